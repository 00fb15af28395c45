// The `.stream` of pipes and 'stream' sockets where net.Socket cannot take a descriptor over: Bun's
// net.Socket({ fd }) accepts a pipe's descriptor and then never reads from it (docs/runtimes.md). This
// Duplex drives the descriptor with unipc's own non-blocking attempts and readiness waits, so it behaves
// as the net.Socket does on Node: chunks as they arrive, the end at EOF, end() closing a pipe's write
// end or shutting a socket's down, destroy() closing the descriptor.
import { Buffer } from 'node:buffer';
import { Duplex, type DuplexOptions } from 'node:stream';
import { closedError, IpcError } from './errors.js';
import { constants, native } from './native.js';
import { attemptResult, type Direction, FdPoller, Turnstile, whenReady } from './wait.js';

const CHUNK = 64 * 1024;

export interface DescriptorStreamOptions {
  readonly readable: boolean;
  readonly writable: boolean;
  /** A socket: writes pass MSG_NOSIGNAL, and end() shuts the sending side down instead of closing. */
  readonly socket: boolean;
  /** Whether pending reads and writes keep the process alive. */
  readonly keepAlive: boolean;
  /** Called once the stream has closed the descriptor. */
  readonly onClose: () => void;
}

export class DescriptorStream extends Duplex {
  #fd: number;
  readonly #poller: FdPoller;
  readonly #turnstiles = { read: new Turnstile(), write: new Turnstile() };
  readonly #socket: boolean;
  readonly #onClose: () => void;
  readonly #abort = new AbortController();
  #reading = false;
  #wanted = false;

  /** `fd` must be in non-blocking mode already (setNonBlocking()): every attempt must return EAGAIN. */
  constructor(fd: number, options: DescriptorStreamOptions) {
    // As net.Socket: a socket whose peer ended ends its own side too.
    // `readable`/`writable` (Node ≥ 10.16) end the side that is absent from the start.
    super({ readable: options.readable, writable: options.writable, allowHalfOpen: false } as DuplexOptions);
    this.#fd = fd;
    this.#socket = options.socket;
    this.#onClose = options.onClose;
    this.#poller = new FdPoller(fd);
    this.#poller.setKeepAlive(options.keepAlive);
  }

  /** Like net.Socket's: pending reads and writes no longer keep the process alive. */
  unref(): this {
    this.#poller.setKeepAlive(false);
    return this;
  }

  ref(): this {
    this.#poller.setKeepAlive(true);
    return this;
  }

  override _read(size: number): void {
    // Node calls _read() again only after a push: a call that comes while a read is pending must not be
    // dropped, or the stream waits forever.
    this.#wanted = true;
    if (this.#reading) return;
    this.#reading = true;
    this.#pump(Math.min(Math.max(size, 1), CHUNK)).catch((error: Error) => {
      if (!this.#abort.signal.aborted) this.destroy(error);
    });
  }

  async #pump(size: number): Promise<void> {
    try {
      while (this.#wanted) {
        this.#wanted = false;
        const buffer = Buffer.allocUnsafe(size);
        const n = await this.#transfer('read', () => native.read(this.#fd, buffer, 0, size));
        if (n === 0) {
          this.push(null);
          return;
        }
        if (this.push(buffer.subarray(0, n))) this.#wanted = true;
      }
    } finally {
      this.#reading = false; // in the same turn as the last look at #wanted
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#writeAll(chunk).then(() => callback(), callback);
  }

  async #writeAll(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      const length = chunk.length - offset;
      offset += await this.#transfer('write', () =>
        this.#socket
          ? native.sendmsg(this.#fd, chunk, offset, length, null, constants.MSG_NOSIGNAL | constants.MSG_DONTWAIT)
          : native.write(this.#fd, chunk, offset, length),
      );
    }
  }

  // One read(2) or write(2) (sendmsg(2) on a socket), attempted at once and again each time the
  // descriptor is ready, until it moves bytes or fails; in turn with the others of its direction.
  #transfer(direction: Direction, call: () => number): Promise<number> {
    const context = { fd: this.#fd };
    return whenReady(
      this.#poller,
      this.#turnstiles[direction],
      direction,
      { signal: this.#abort.signal },
      direction,
      context,
      () => attemptResult(call(), direction, context),
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#socket) {
      const result = native.shutdown(this.#fd, constants.SHUT_WR);
      callback(result < 0 ? new IpcError(-result, 'shutdown', { fd: this.#fd }) : null);
      return;
    }
    // A pipe's write end: closing it (autoDestroy, after 'finish') is how the reader sees the end.
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#abort.abort();
    if (this.#fd >= 0) {
      const fd = this.#fd;
      this.#fd = -1;
      this.#poller.close(closedError('the stream', 'poll', { fd }));
      native.close(fd);
      this.#onClose();
    }
    callback(error);
  }
}
