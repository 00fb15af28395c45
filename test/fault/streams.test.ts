// kill -9 at random points, byte streams and sockets: pipes, FIFOs and socketpairs of each type. One
// side is a fault-peer, killed mid-operation; the other, the survivor, is this process, which must get
// the documented outcome (docs/reliability.md) and every message the sender had reported sent.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import {
  type Message,
  mkfifo,
  openFifo,
  openFifoSync,
  type PipeReader,
  type PipeWriter,
  pipe,
  type SocketType,
  socketpair,
} from '../../src/index.js';
import { tempDir } from '../helpers.js';
import {
  assertAllReportedArrived,
  assertMessage,
  codeOf,
  type FaultPeer,
  faultScenario,
  type Iteration,
} from './harness.js';
import { Deframer, frame, Phase } from './peers/protocol.js';

/** Reads framed messages until the end of data, checking each; after the peer's death, Sync reads at random. */
async function readAll(
  it: Iteration,
  peer: FaultPeer,
  reader: PipeReader,
): Promise<{ outcome: string; received: number; torn: number }> {
  const deframer = new Deframer();
  let received = 0;
  for (;;) {
    let chunk: Buffer | null;
    try {
      chunk = peer.dead && it.random.chance(0.5) ? reader.readSync() : await reader.read();
    } catch (error) {
      return { outcome: codeOf(error), received, torn: deframer.pending };
    }
    if (chunk === null) return { outcome: 'EOF', received, torn: deframer.pending };
    for (const one of deframer.push(chunk)) assertMessage(one, received++);
    await it.breathe();
  }
}

/** Writes framed messages until a write fails; returns its code and how many writes returned. */
async function writeAll(
  it: Iteration,
  peer: FaultPeer,
  writer: PipeWriter,
): Promise<{ outcome: string; sent: number }> {
  let sent = 0;
  for (;;) {
    try {
      if (peer.dead && it.random.chance(0.5)) writer.writeSync(frame(sent));
      else await writer.write(frame(sent));
      sent++;
    } catch (error) {
      return { outcome: codeOf(error), sent };
    }
    await it.breathe();
  }
}

/** Opens a FIFO, retrying timed-out opens while the peer lives: 'ETIMEDOUT' once it is dead. */
async function openEnd(
  it: Iteration,
  peer: FaultPeer,
  path: string,
  access: 'r' | 'w',
): Promise<PipeReader | PipeWriter | 'ETIMEDOUT'> {
  for (;;) {
    try {
      return peer.dead && it.random.chance(0.5)
        ? openFifoSync(path, access, { timeout: 100 })
        : await openFifo(path, access, { timeout: 200 });
    } catch (error) {
      if (codeOf(error) !== 'ETIMEDOUT') throw error;
      if (peer.dead) return 'ETIMEDOUT';
    }
  }
}

describe('fault: pipes and FIFOs, a peer killed with SIGKILL at a random point', () => {
  faultScenario('pipe, writer killed: the reader gets every message written, then EOF', ['EOF'], async (it) => {
    const { reader, writer } = pipe();
    try {
      const peer = it.spawn('pipe', 'send', { fds: [writer] });
      const survivor = it.survivor(() => readAll(it, peer, reader));
      await it.kill(peer, it.killPoint(), survivor.settled);
      const { outcome, received, torn } = await it.settles(survivor.promise, 'the reader');
      assertAllReportedArrived(received, peer.report.progress);
      assert.equal(torn, 0, 'writes of up to PIPE_BUF bytes are whole or absent');
      it.checked(received);
      return outcome;
    } finally {
      reader.close();
    }
  });

  faultScenario(
    'pipe, reader killed: the writer gets EPIPE (unread data goes with the pipe)',
    ['EPIPE'],
    async (it) => {
      const { reader, writer } = pipe();
      try {
        const peer = it.spawn('pipe', 'receive', { fds: [reader] });
        const survivor = it.survivor(() => writeAll(it, peer, writer));
        await it.kill(peer, it.killPoint(), survivor.settled);
        const { outcome, sent } = await it.settles(survivor.promise, 'the writer');
        assert.ok(peer.report.progress <= sent, `the reader checked ${peer.report.progress} of ${sent} messages`);
        it.checked(peer.report.progress);
        return outcome;
      } finally {
        writer.close();
      }
    },
  );

  faultScenario(
    'FIFO, writer killed: the reader gets every message written, then EOF (or its open times out)',
    ['EOF', 'ETIMEDOUT'],
    async (it) => {
      using dir = tempDir();
      const path = dir.file('fifo');
      mkfifo(path);
      const peer = it.spawn('fifo', 'send', { target: path });
      const survivor = it.survivor(async () => {
        const reader = await openEnd(it, peer, path, 'r');
        if (reader === 'ETIMEDOUT') return { outcome: reader, received: 0, torn: 0 };
        try {
          return await readAll(it, peer, reader as PipeReader);
        } finally {
          reader.close();
        }
      });
      await it.kill(peer, it.killPoint(), survivor.settled);
      const { outcome, received, torn } = await it.settles(survivor.promise, 'the reader');
      if (outcome === 'ETIMEDOUT')
        assert.equal(peer.report.phase, Phase.starting, 'the open timed out though the peer had opened its end');
      assertAllReportedArrived(received, peer.report.progress);
      assert.equal(torn, 0, 'writes of up to PIPE_BUF bytes are whole or absent');
      it.checked(received);
      return outcome;
    },
  );

  faultScenario(
    'FIFO, reader killed: the writer gets EPIPE; what the reader had not read stays in the FIFO for the next',
    ['EPIPE', 'ETIMEDOUT'],
    async (it) => {
      using dir = tempDir();
      const path = dir.file('fifo');
      mkfifo(path);
      const peer = it.spawn('fifo', 'receive', { target: path });
      let writer: PipeWriter | undefined;
      try {
        const survivor = it.survivor(async () => {
          const end = await openEnd(it, peer, path, 'w');
          if (end === 'ETIMEDOUT') return { outcome: end, sent: 0 };
          writer = end as PipeWriter;
          return writeAll(it, peer, writer);
        });
        await it.kill(peer, it.killPoint(), survivor.settled);
        const { outcome, sent } = await it.settles(survivor.promise, 'the writer');
        const checked = peer.report.progress;
        assert.ok(checked <= sent, `the reader checked ${checked} of ${sent} messages`);
        it.checked(checked);
        if (outcome === 'ETIMEDOUT') {
          assert.equal(peer.report.phase, Phase.starting, 'the open timed out though the peer had opened its end');
          return outcome;
        }
        // A new reader, while this writer holds the FIFO open, gets exactly the bytes the dead one left.
        const written = Buffer.concat(Array.from({ length: sent }, (_, i) => frame(i)));
        const next = openFifoSync(path, 'r', { timeout: 10_000 });
        writer!.close();
        const rest: Buffer[] = [];
        for (let chunk = next.readSync(); chunk !== null; chunk = next.readSync()) rest.push(Buffer.from(chunk));
        next.close();
        const left = Buffer.concat(rest);
        const taken = written.length - left.length;
        const checkedBytes = Buffer.concat(Array.from({ length: checked }, (_, i) => frame(i))).length;
        it.note(`${written.length} bytes written, ${taken} taken by the dead reader, ${left.length} left`);
        assert.ok(left.equals(written.subarray(taken)), 'what is left is the end of what was written, unchanged');
        assert.ok(taken >= checkedBytes, `the dead reader had checked ${checkedBytes} bytes, more than it took`);
        return outcome;
      } finally {
        writer?.close();
      }
    },
  );
});

const socketOutcomes: Record<SocketType, { senderKilled: string[]; receiverKilled: string[] }> = {
  stream: { senderKilled: ['EOF', 'ECONNRESET, EOF'], receiverKilled: ['EPIPE'] },
  seqpacket: { senderKilled: ['EOF', 'ECONNRESET, EOF'], receiverKilled: ['EPIPE', 'ECONNRESET'] },
  dgram: { senderKilled: ['ETIMEDOUT'], receiverKilled: ['ECONNREFUSED'] },
};

/**
 * Checks the errors of the first send that failed and of two more: 'stream' says EPIPE every time;
 * 'seqpacket' says ECONNRESET once if the dead end had messages unread (before or after an EPIPE), EPIPE
 * otherwise; 'dgram' says ECONNREFUSED, then ENOTCONN (the kernel forgot the peer).
 */
function assertSendErrors(type: SocketType, codes: string[], unread: boolean | undefined): void {
  if (type === 'stream') assert.deepEqual(codes, ['EPIPE', 'EPIPE', 'EPIPE']);
  if (type === 'dgram') assert.deepEqual(codes, ['ECONNREFUSED', 'ENOTCONN', 'ENOTCONN']);
  if (type === 'seqpacket') {
    const resets = codes.filter((code) => code === 'ECONNRESET').length;
    assert.ok(
      codes.every((code) => code === 'EPIPE' || code === 'ECONNRESET') && resets <= 1,
      `send errors ${codes.join(', ')}`,
    );
    if (unread !== undefined)
      assert.equal(
        resets,
        unread ? 1 : 0,
        `send errors ${codes.join(', ')}: ECONNRESET once if and only if messages were left unread`,
      );
  }
}

describe('fault: socketpairs, a peer killed with SIGKILL at a random point', () => {
  for (const type of ['stream', 'seqpacket', 'dgram'] as const) {
    const { senderKilled, receiverKilled } = socketOutcomes[type];
    const end =
      type === 'dgram'
        ? 'waits until the timeout it asked for'
        : 'then EOF (ECONNRESET once first if it left data unread)';
    faultScenario(
      `socketpair('${type}'), sender killed: the receiver gets every message sent, ${end}`,
      senderKilled,
      async (it) => {
        const [mine, theirs] = socketpair(type);
        try {
          const peer = it.spawn('socket', 'send', { fds: [theirs] });
          // Half the time the survivor also sends something the peer never reads: a socket closed with
          // unread data leaves its peer an ECONNRESET, which is not the end of what it sent.
          const unread = type !== 'dgram' && it.random.chance(0.5);
          if (unread) mine.sendSync(frame(0));
          it.note(`data left unread by the peer: ${unread}`);
          const survivor = it.survivor(async () => {
            const deframer = new Deframer();
            let received = 0;
            let resets = 0;
            for (;;) {
              let message: Message | null;
              try {
                message =
                  peer.dead && it.random.chance(0.5)
                    ? mine.receiveSync({ timeout: 100 })
                    : await mine.receive({ timeout: 250 });
              } catch (error) {
                const code = codeOf(error);
                if (code === 'ETIMEDOUT' && !peer.dead) continue;
                if (code === 'ECONNRESET' && resets++ === 0) continue; // reported once; what is queued still comes
                return { outcome: code, received, torn: deframer.pending, resets };
              }
              if (message === null)
                return { outcome: resets > 0 ? 'ECONNRESET, EOF' : 'EOF', received, torn: deframer.pending, resets };
              if (type === 'stream') for (const one of deframer.push(message.data)) assertMessage(one, received++);
              else assertMessage(message.data, received++);
              await it.breathe();
            }
          });
          await it.kill(peer, it.killPoint(), survivor.settled);
          const { outcome, received, torn, resets } = await it.settles(survivor.promise, 'the receiver');
          assertAllReportedArrived(received, peer.report.progress);
          assert.equal(torn, 0, 'no message cut short');
          assert.equal(resets, unread ? 1 : 0, 'one ECONNRESET if and only if the peer left data unread');
          it.checked(received);
          return outcome;
        } finally {
          mine.close();
        }
      },
    );

    faultScenario(
      `socketpair('${type}'), receiver killed: the sender gets ${receiverKilled.join(' or ')}`,
      receiverKilled,
      async (it) => {
        const [mine, theirs] = socketpair(type);
        try {
          const peer = it.spawn('socket', 'receive', { fds: [theirs] });
          const survivor = it.survivor(async () => {
            let sent = 0;
            for (;;) {
              const bytes = type === 'stream' ? frame(sent) : frame(sent).subarray(2);
              try {
                if (peer.dead && it.random.chance(0.5)) mine.sendSync(bytes);
                else await mine.send(bytes);
                sent++;
              } catch (error) {
                return { outcome: codeOf(error), sent };
              }
              await it.breathe();
            }
          });
          await it.kill(peer, it.killPoint(), survivor.settled);
          const { outcome, sent } = await it.settles(survivor.promise, 'the sender');
          assert.ok(peer.report.progress <= sent, `the receiver checked ${peer.report.progress} of ${sent} messages`);
          it.checked(peer.report.progress);
          const codes = [outcome];
          for (let i = 0; i < 2; i++) {
            try {
              mine.sendSync('again');
              codes.push('sent');
            } catch (error) {
              codes.push(codeOf(error));
            }
          }
          it.note(`send errors ${codes.join(', ')} after ${sent} sent`);
          // More sent than checked, and than the one it may have taken unchecked: some were surely unread.
          const checked = peer.report.progress;
          assertSendErrors(type, codes, sent > checked + 1 ? true : sent === checked ? false : undefined);
          return outcome;
        } finally {
          mine.close();
        }
      },
    );
  }
});
