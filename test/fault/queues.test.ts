// kill -9 at random points, message queues and the shared-memory channel. A killed sender's messages
// stay queued for the survivor; a killed receiver's unread messages stay for the next receiver (checked
// by draining after it died): none that a send() reported is lost, none comes twice, order holds.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { Channel } from '../../src/channel.js';
import { IPC_PRIVATE, MessageQueue, PosixQueue } from '../../src/index.js';
import { dup, quietly, uniqueIpcName } from '../helpers.js';
import {
  assertAllReportedArrived,
  assertMessage,
  assertRestQueued,
  blockedIn,
  codeOf,
  type FaultPeer,
  faultScenario,
  type Iteration,
} from './harness.js';
import { MAX_MESSAGE, message } from './peers/protocol.js';

/** What the tests need of a queue: one send and one receive with a timeout, each in a Sync and a Promise form. */
interface Endpoint {
  send(i: number, sync: boolean): void | Promise<void>;
  receive(sync: boolean, timeout: number): Buffer | null | Promise<Buffer | null>;
}

/**
 * Receives and checks messages until the survivor's last word: a timeout once the peer is dead (a
 * timeout while it lives is retried), an error, or the end (null). Sync forms only once the peer is dead.
 */
async function receiveUntilOutcome(
  it: Iteration,
  peer: FaultPeer,
  endpoint: Endpoint,
  timeout: number,
): Promise<{ outcome: string; received: number }> {
  let received = 0;
  for (;;) {
    let data: Buffer | null;
    try {
      data = await endpoint.receive(peer.dead && it.random.chance(0.5), timeout);
    } catch (error) {
      const code = codeOf(error);
      if (code === 'ETIMEDOUT' && !peer.dead) continue;
      return { outcome: code, received };
    }
    if (data === null) return { outcome: 'EOF', received };
    assertMessage(data, received++);
    await it.breathe();
  }
}

/** Sends messages 0, 1, … until a send fails once the peer is dead; a timed-out send while it lives is retried. */
async function sendUntilOutcome(
  it: Iteration,
  peer: FaultPeer,
  endpoint: Endpoint,
): Promise<{ outcome: string; sent: number }> {
  let sent = 0;
  for (;;) {
    try {
      await endpoint.send(sent, peer.dead && it.random.chance(0.5));
      sent++;
    } catch (error) {
      const code = codeOf(error);
      if (code === 'ETIMEDOUT' && !peer.dead) continue;
      return { outcome: code, sent };
    }
    await it.breathe();
  }
}

/** Takes what is left in a queue whose receiver died; returns the first message's number and the count, all checked. */
function drain(take: () => Buffer | null): { first: number | undefined; count: number } {
  let first: number | undefined;
  let count = 0;
  for (let data = take(); data !== null; data = take()) {
    first ??= data.readUInt32LE(0);
    assertMessage(data, first + count++);
  }
  return { first, count };
}

function sysvEndpoint(queue: MessageQueue): Endpoint {
  return {
    send: (i, sync) =>
      sync ? queue.sendSync(1, message(i), { timeout: 100 }) : queue.send(1, message(i), { timeout: 250 }),
    receive: (sync, timeout) =>
      sync ? queue.receiveSync({ timeout }).data : queue.receive({ timeout }).then((m) => m.data),
  };
}

function posixEndpoint(queue: PosixQueue): Endpoint {
  return {
    send: (i, sync) => (sync ? queue.sendSync(message(i), { timeout: 100 }) : queue.send(message(i), { timeout: 250 })),
    receive: (sync, timeout) =>
      sync ? queue.receiveSync({ timeout }).data : queue.receive({ timeout }).then((m) => m.data),
  };
}

describe('fault: System V message queues, a peer killed with SIGKILL at a random point', () => {
  faultScenario(
    'sender killed: the receiver gets every message sent, then waits until the timeout it asked for (EIDRM once removed)',
    ['ETIMEDOUT'],
    async (it) => {
      const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
      try {
        const peer = it.spawn('sysv-queue', 'send', { target: String(queue.id) });
        const survivor = it.survivor(() => receiveUntilOutcome(it, peer, sysvEndpoint(queue), 100));
        await it.kill(peer, it.killPoint(), survivor.settled);
        const { outcome, received } = await it.settles(survivor.promise, 'the receiver');
        assertAllReportedArrived(received, peer.report.progress);
        it.checked(received);
        // A receive waiting without a timeout ends when someone removes the queue.
        const waiting = queue.receive();
        await it.settles(blockedIn('do_msgrcv'), 'a receive entering msgrcv');
        queue.remove();
        await assert.rejects(waiting, { code: 'EIDRM' });
        return outcome;
      } finally {
        quietly(() => queue.remove());
      }
    },
  );

  faultScenario(
    'receiver killed: the sender fills the queue and times out as it asked; the unread messages wait for the next receiver',
    ['ETIMEDOUT'],
    async (it) => {
      const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
      try {
        const peer = it.spawn('sysv-queue', 'receive', { target: String(queue.id) });
        const survivor = it.survivor(() => sendUntilOutcome(it, peer, sysvEndpoint(queue)));
        await it.kill(peer, it.killPoint(), survivor.settled);
        const { outcome, sent } = await it.settles(survivor.promise, 'the sender');
        const rest = drain(() => {
          try {
            return queue.receiveSync({ nowait: true }).data;
          } catch (error) {
            if (codeOf(error) === 'ENOMSG') return null;
            throw error;
          }
        });
        it.note(
          `${sent} sent, ${peer.report.progress} checked by the dead receiver, ${rest.count} left from ${rest.first}`,
        );
        assertRestQueued(rest.first, rest.count, peer.report.progress, sent);
        it.checked(peer.report.progress + rest.count);
        return outcome;
      } finally {
        quietly(() => queue.remove());
      }
    },
  );
});

describe('fault: POSIX message queues, a peer killed with SIGKILL at a random point', () => {
  function open(it: Iteration): { queue: PosixQueue; name: string } {
    const name = `/${uniqueIpcName('fault-mq')}`;
    const maxMessages = it.random.int(1, 10);
    it.note(`queue of ${maxMessages} messages`);
    return {
      queue: PosixQueue.open(name, { create: true, exclusive: true, maxMessages, messageSize: MAX_MESSAGE }),
      name,
    };
  }

  faultScenario(
    'sender killed: the receiver gets every message sent, then waits until the timeout it asked for (EBADF once closed)',
    ['ETIMEDOUT'],
    async (it) => {
      const { queue, name } = open(it);
      try {
        const peer = it.spawn('posix-queue', 'send', { target: name });
        const survivor = it.survivor(() => receiveUntilOutcome(it, peer, posixEndpoint(queue), 100));
        await it.kill(peer, it.killPoint(), survivor.settled);
        const { outcome, received } = await it.settles(survivor.promise, 'the receiver');
        assertAllReportedArrived(received, peer.report.progress);
        it.checked(received);
        // Unlinking the name does not end a wait (the queue lives while open); closing this end does.
        const waitingAcross = queue.receive({ timeout: 50 });
        PosixQueue.unlink(name);
        await assert.rejects(waitingAcross, { code: 'ETIMEDOUT' });
        const waiting = queue.receive();
        queue.close();
        await assert.rejects(waiting, { code: 'EBADF' });
        return outcome;
      } finally {
        queue.close();
        quietly(() => PosixQueue.unlink(name), ['ENOENT']);
      }
    },
  );

  faultScenario(
    'receiver killed: the sender fills the queue and times out as it asked; the unread messages wait for the next receiver',
    ['ETIMEDOUT'],
    async (it) => {
      const { queue, name } = open(it);
      try {
        const peer = it.spawn('posix-queue', 'receive', { target: name });
        const survivor = it.survivor(() => sendUntilOutcome(it, peer, posixEndpoint(queue)));
        await it.kill(peer, it.killPoint(), survivor.settled);
        const { outcome, sent } = await it.settles(survivor.promise, 'the sender');
        const rest = drain(() => {
          try {
            return queue.receiveSync({ nowait: true }).data;
          } catch (error) {
            if (codeOf(error) === 'EAGAIN') return null;
            throw error;
          }
        });
        it.note(
          `${sent} sent, ${peer.report.progress} checked by the dead receiver, ${rest.count} left from ${rest.first}`,
        );
        assertRestQueued(rest.first, rest.count, peer.report.progress, sent);
        it.checked(peer.report.progress + rest.count);
        return outcome;
      } finally {
        queue.close();
        PosixQueue.unlink(name);
      }
    },
  );
});

describe('fault: the shared-memory channel, a peer killed with SIGKILL at a random point', () => {
  function create(it: Iteration): Channel {
    const capacity = it.random.pick([4096, 16384, 65536]);
    it.note(`channel of ${capacity} bytes`);
    return Channel.create({ capacity, maxMessageSize: MAX_MESSAGE });
  }

  // A side is known to the channel from its first send() or receive() on: a peer killed before that
  // left no thread to check, so the survivor waits until its timeout.
  faultScenario(
    'producer killed: the consumer gets every message sent, then EPIPE (a timeout if it died before its first send)',
    ['EPIPE', 'ETIMEDOUT'],
    async (it) => {
      using channel = create(it);
      const peer = it.spawn('channel', 'send', { fds: [channel.fd] });
      const endpoint: Endpoint = {
        send: () => assert.fail('the consumer does not send'),
        receive: (sync, timeout) => (sync ? channel.receiveSync({ timeout }) : channel.receive({ timeout })),
      };
      const survivor = it.survivor(() => receiveUntilOutcome(it, peer, endpoint, 250));
      await it.kill(peer, it.killPoint(), survivor.settled);
      const { outcome, received } = await it.settles(survivor.promise, 'the consumer');
      assertAllReportedArrived(received, peer.report.progress);
      if (outcome === 'ETIMEDOUT')
        assert.equal(received, 0, 'a timeout, though the producer had sent (and so was known)');
      it.checked(received);
      return outcome;
    },
  );

  faultScenario(
    'consumer killed: the producer gets EPIPE once the ring is full (a timeout if it died before its first receive); a new consumer takes over the unread messages',
    ['EPIPE', 'ETIMEDOUT'],
    async (it) => {
      const channel = create(it);
      try {
        const peer = it.spawn('channel', 'receive', { fds: [channel.fd] });
        const endpoint: Endpoint = {
          send: (i, sync) =>
            sync ? channel.sendSync(message(i), { timeout: 100 }) : channel.send(message(i), { timeout: 250 }),
          receive: () => assert.fail('the producer does not receive'),
        };
        const survivor = it.survivor(() => sendUntilOutcome(it, peer, endpoint));
        await it.kill(peer, it.killPoint(), survivor.settled);
        const { outcome, sent } = await it.settles(survivor.promise, 'the producer');
        if (outcome === 'ETIMEDOUT')
          assert.equal(peer.report.progress, 0, 'a timeout, though the consumer had received (and so was known)');
        using next = Channel.fromFd(dup(channel));
        channel.close(); // the producer's close: the new consumer reads to the end, then null
        const rest = drain(() => next.receiveSync());
        it.note(
          `${sent} sent, ${peer.report.progress} checked by the dead consumer, ${rest.count} left from ${rest.first}`,
        );
        assertRestQueued(rest.first, rest.count, peer.report.progress, sent);
        it.checked(peer.report.progress + rest.count);
        return outcome;
      } finally {
        channel.close();
      }
    },
  );
});
