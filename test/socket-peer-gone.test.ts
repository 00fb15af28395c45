// A 'seqpacket' peer that dies after sending: what it sent still arrives, and only then the end.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type IpcError, type Message, socketpair, type UnixSocket } from '../src/index.js';
import { finished, lineFrom, spawnPeer } from './helpers.js';

const COUNT = 20;

/**
 * A socketpair whose other end went to a peer that sent COUNT messages and was then killed with SIGKILL,
 * before anything was read here — and, with `unread`, with a message of ours it never read, which makes
 * the kernel report ECONNRESET.
 */
async function afterPeerKilled(unread: boolean): Promise<UnixSocket> {
  const [mine, theirs] = socketpair('seqpacket');
  if (unread) mine.sendSync('never read');
  const peer = spawnPeer('socket-sender', [String(COUNT)], { fds: [theirs] });
  const done = finished(peer);
  await lineFrom(peer, 'sent');
  peer.kill('SIGKILL');
  assert.equal((await done).signal, 'SIGKILL');
  return mine;
}

function assertMessage(message: Message | null, i: number): void {
  assert.ok(message !== null, `message ${i} arrived before the end`);
  assert.equal(message.data.toString(), `message ${i}`);
}

const reset = (error: IpcError) => error.code === 'ECONNRESET' && error.syscall === 'recvmsg';

describe("socketpair('seqpacket'), the peer killed after sending", () => {
  for (const unread of [true, false]) {
    const ending = unread ? 'ECONNRESET once (it left a message of ours unread), then null' : 'then null';
    test(`receiveSync: every message it sent, ${ending}`, async () => {
      using socket = await afterPeerKilled(unread);
      for (let i = 0; i < COUNT; i++) assertMessage(socket.receiveSync({ timeout: 5000 }), i);
      if (unread) assert.throws(() => socket.receiveSync({ timeout: 5000 }), reset);
      assert.equal(socket.receiveSync({ timeout: 5000 }), null);
      assert.equal(socket.receiveSync({ timeout: 5000 }), null, 'the end stays the end');
    });

    test(`receive: every message it sent, ${ending}`, async () => {
      using socket = await afterPeerKilled(unread);
      for (let i = 0; i < COUNT; i++) assertMessage(await socket.receive({ timeout: 5000 }), i);
      if (unread) await assert.rejects(socket.receive({ timeout: 5000 }), reset);
      assert.equal(await socket.receive({ timeout: 5000 }), null);
      assert.equal(await socket.receive({ timeout: 5000 }), null, 'the end stays the end');
    });
  }

  test('concurrent receives get the messages in call order, then ECONNRESET, then null', async () => {
    using socket = await afterPeerKilled(true);
    const pending = Array.from({ length: COUNT + 2 }, () =>
      socket.receive({ timeout: 5000 }).then(
        (message) => message?.data.toString() ?? null,
        (error: IpcError) => error.code,
      ),
    );
    const expected = [...Array.from({ length: COUNT }, (_, i) => `message ${i}`), 'ECONNRESET', null];
    assert.deepEqual(await Promise.all(pending), expected);
  });
});
