// Load: messages through each queue kind and the channel from this process to another, every one checked
// by the receiver against its number (order, contents, none twice) and all of them against a sha256 of
// what was sent. 10,000 per kind in npm test; 1,000,000 under npm run soak. Each send picks its Sync or
// Promise form at random (seeded), so both waiting paths carry load, and so do the peer's receives.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { Channel } from '../../src/channel.js';
import { IPC_PRIVATE, MessageQueue, PosixQueue } from '../../src/index.js';
import { quietly, uniqueIpcName } from '../helpers.js';
import { codeOf, FaultPeer, scale, seed, soakTimeout } from './harness.js';
import { MAX_MESSAGE, message, Phase, Random } from './peers/protocol.js';

const MESSAGES = scale(10_000, 1_000_000);

interface Target {
  /** The peer's mechanism, target argument and descriptors. */
  peer: [string, string, number[]];
  /** Sends, or fails with 'ETIMEDOUT' after `timeout` ms of a full queue. */
  send(bytes: Buffer, sync: boolean, timeout: number): void | Promise<void>;
  close(): void;
}

const kinds: Record<string, () => Target> = {
  'System V queue': () => {
    const queue = MessageQueue.get(IPC_PRIVATE, { create: true });
    return {
      peer: ['sysv-queue', String(queue.id), []],
      send: (bytes, sync, timeout) =>
        sync ? queue.sendSync(1, bytes, { timeout }) : queue.send(1, bytes, { timeout }),
      close: () => quietly(() => queue.remove()),
    };
  },
  'POSIX queue': () => {
    const name = `/${uniqueIpcName('soak-mq')}`;
    const queue = PosixQueue.open(name, { create: true, exclusive: true, maxMessages: 10, messageSize: MAX_MESSAGE });
    return {
      peer: ['posix-queue', name, []],
      send: (bytes, sync, timeout) => (sync ? queue.sendSync(bytes, { timeout }) : queue.send(bytes, { timeout })),
      close: () => {
        queue.close();
        PosixQueue.unlink(name);
      },
    };
  },
  channel: () => {
    const channel = Channel.create({ capacity: 65536, maxMessageSize: MAX_MESSAGE });
    return {
      peer: ['channel', '-', [channel.fd]],
      send: (bytes, sync, timeout) => (sync ? channel.sendSync(bytes, { timeout }) : channel.send(bytes, { timeout })),
      close: () => channel.close(),
    };
  },
};

describe(`load: ${MESSAGES.toLocaleString('en')} messages to another process, checksummed`, () => {
  for (const [kind, make] of Object.entries(kinds)) {
    test(`${kind}: all arrive, once, in order, intact`, soakTimeout, async (t) => {
      t.diagnostic(`seed ${seed} (UNIPC_FAULT_SEED): the Sync or Promise form of each call`);
      const random = new Random(seed, 'throughput', kind);
      const target = make();
      const [mechanism, argument, fds] = target.peer;
      const peer = new FaultPeer([mechanism, 'receive', String(random.uint32()), argument, String(MESSAGES)], fds);
      try {
        const hash = createHash('sha256');
        for (let i = 0; i < MESSAGES; i++) {
          const bytes = message(i);
          hash.update(bytes);
          // A receiver that died would leave a full queue: look at it each second the queue stays full.
          for (;;) {
            try {
              await target.send(bytes, random.chance(0.5), 1000);
              break;
            } catch (error) {
              if (codeOf(error) !== 'ETIMEDOUT') throw error;
              assert.ok(
                !peer.dead,
                `the receiver died after ${peer.report.progress} messages: ${peer.report.error ?? 'no report'}`,
              );
            }
          }
        }
        const { code } = await peer.exited;
        assert.equal(peer.report.error, undefined);
        assert.equal(code, 0);
        assert.equal(peer.report.phase, Phase.finished);
        assert.equal(peer.report.progress, MESSAGES, 'messages received and checked');
        assert.equal(peer.report.result, hash.digest('hex'), 'sha256 of all received = of all sent');
      } finally {
        peer.release();
        target.close();
      }
    });
  }
});
