// Raises a System V queue's maxBytes, for the tests of set()'s errors; prints the outcome as JSON:
// { ok: true }, or the IpcError's code, syscall and message.
//   msg-set ID MAX_BYTES
import { IpcError, MessageQueue } from '../../src/index.js';

const [id, maxBytes] = process.argv.slice(2).map(Number);
try {
  MessageQueue.fromId(id).set({ maxBytes });
  console.log(JSON.stringify({ ok: true }));
} catch (error) {
  const { code, syscall, message } = error as IpcError;
  console.log(JSON.stringify({ ipcError: error instanceof IpcError, code, syscall, message }));
}
