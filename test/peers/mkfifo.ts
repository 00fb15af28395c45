// Tries mkfifo(path) and prints the outcome as JSON (run under another uid to see EACCES).
import { type IpcError, mkfifo } from '../../src/index.js';

try {
  mkfifo(process.argv[2]);
  console.log(JSON.stringify({ ok: true }));
} catch (error) {
  const e = error as IpcError;
  console.log(
    JSON.stringify({
      name: e.name,
      code: e.code,
      errno: e.errno,
      syscall: e.syscall,
      path: e.path,
      message: e.message,
    }),
  );
}
