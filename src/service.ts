// Request/response over shared memory, built from channels: clients send requests into one channel with
// many producers, which the server consumes; each client gets its responses on a channel of its own, which
// the server produces into. Message formats and the connection handshake: docs/channel.md, "Service".

import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Channel, channelInternals, framedReceives, framedSends } from './channel.js';
import { check, E, IpcError, timeoutError } from './errors.js';
import { fstat } from './fd.js';
import { threadGone, threadId } from './futex.js';
import { constants, native } from './native.js';
import { invalidState, outOfRange, toBytes, validateBoolean, validateInteger, validateOptions } from './validate.js';
import {
  AGAIN,
  abortedError,
  type RefOptions,
  receiving,
  type SyncWaitOptions,
  syncWaitOptions,
  type WaitOptions,
  waitOptions,
} from './wait.js';

/** How a channel's memfd is opened again through /proc: as Channel.fromFd() needs it. */
const OPEN_CHANNEL = constants.O_RDWR | constants.O_CLOEXEC;

/** Request kinds, the first word of every message on the request channel. */
const HELLO = 1;
const REQUEST = 2;
const BYE = 3;
/** A request's header: kind, client pid, client serial, request id. */
const REQUEST_HEADER = 16;
/** A response's header: request id, status. */
const RESPONSE_HEADER = 8;
const OK = 0;
const FAILED = 1;
/** The id of the server's answer to a hello: its response channel works. */
const WELCOME = 0;
/** Channel words (docs/channel.md, "Layout"): the consumer's thread id (byte 200), and state (byte 204). */
const CONSUMER_WORD = 50;
const STATE_WORD = 51;
const CONSUMER_CLOSED = 2;
/** A welcome's payload: the 8 random bytes of the hello it answers. */
const NONCE_BYTES = 8;
/** How long a client waits for the welcome once the server has taken its hello: 10 slices of 100 ms. */
const WELCOME_SLICES = 10;
const HEAD_WORD = 16;
const TAIL_WORD = 32;
const LIVENESS_INTERVAL_MS = 100;

let serials = 0;

// A response's header (request id, status), written into the ring before its bytes: from this one array,
// which the next response reuses.
const RESPONSE_HEAD = new Int32Array(RESPONSE_HEADER / 4);
function responseHead(id: number, status: number): Int32Array {
  RESPONSE_HEAD[0] = id;
  RESPONSE_HEAD[1] = status;
  return RESPONSE_HEAD;
}
const ANSWERED: Promise<void> = Promise.resolve();

/** How Service.create() makes a service. */
export interface ServiceOptions {
  /** A POSIX shared memory name clients connect() to; without one, a memfd (hand its `fd` to clients). */
  name?: string;
  /** Bytes of the request channel's ring, and of each client's response ring. Default 1 MiB. */
  capacity?: number;
  /** The longest request or response, header included (16 and 8 bytes). Default capacity / 4. */
  maxMessageSize?: number;
  /** With `name`: close() also unlinks the name. Default false. */
  removeOnDispose?: boolean;
}

/**
 * The error a request rejects with when the server answered it with fail(): the server's message, not an
 * errno.
 *
 * @example
 * ```ts
 * import { Service, ServiceError } from 'unipc';
 *
 * const client = await Service.connect('/accounts');
 * try {
 *   await client.request('withdraw 100');
 * } catch (error) {
 *   if (error instanceof ServiceError) console.log('refused:', error.message); // what fail() said
 * }
 * ```
 *
 * @see errno(3): the codes of the errors that are not this one (IpcError).
 */
export class ServiceError extends Error {
  /** Always 'ERR_UNIPC_SERVICE_FAILED'. */
  readonly code = 'ERR_UNIPC_SERVICE_FAILED';
  constructor(message: string) {
    super(message);
    this.name = 'ServiceError';
  }
}

/**
 * A request as the server receives it: its bytes, and the way to answer it once.
 *
 * @example
 * ```ts
 * import { Service } from 'unipc';
 *
 * using service = Service.create({ name: '/accounts', removeOnDispose: true });
 * for await (const request of service) {
 *   const [verb, amount] = String(request.data).split(' ');
 *   if (verb === 'withdraw' && Number(amount) > 50) await request.fail('over the limit');
 *   else await request.respond('done');
 * }
 * ```
 *
 * @see memfd_create(2), futex(2): the channels responses travel on.
 */
export class ServiceRequest {
  /** The request's bytes (a copy). */
  readonly data: Buffer;
  readonly #client: ClientEnd;
  readonly #id: number;
  #answered = false;
  #answering = false;

  /** @internal */
  constructor(data: Buffer, client: ClientEnd, id: number) {
    this.data = data;
    this.#client = client;
    this.#id = id;
  }

  /** Whether respond() or fail() went out (or found the client gone). */
  get answered(): boolean {
    return this.#answered;
  }

  /**
   * Sends the response, waiting (without blocking the event loop) while the client's ring is full. A
   * client that is gone is dropped quietly: its pending requests died with it. A call that fails (a
   * timeout, an abort, bad data) leaves the request unanswered, to answer again.
   *
   * @throws ERR_INVALID_STATE (answered already, or an answer is on its way); ERR_OUT_OF_RANGE (longer
   *   than the service takes); {@link IpcError} 'ETIMEDOUT'; {@link AbortError}; argument errors.
   */
  respond(data: string | ArrayBufferView | ArrayBuffer, options?: WaitOptions): Promise<void> {
    let payload: Uint8Array;
    try {
      payload = this.#payload(toBytes(data, 'data'));
      // Room in the client's ring now (or the client gone): answered with no promise but the one returned.
      if (options === undefined && this.#client.tryAnswer(this.#id, OK, payload)) {
        this.#answered = true;
        return ANSWERED;
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#answer(OK, payload, options);
  }

  /**
   * respond(), blocking the calling thread while the client's ring is full.
   *
   * @throws as respond(), except AbortError.
   */
  respondSync(data: string | ArrayBufferView | ArrayBuffer, options?: SyncWaitOptions): void {
    this.#client.answerSync(this.#id, OK, this.#payload(toBytes(data, 'data')), options);
    this.#answered = true;
  }

  /**
   * Answers with a failure: the client's request rejects with a ServiceError carrying `message`.
   *
   * @throws as respond().
   */
  async fail(message: string, options?: WaitOptions): Promise<void> {
    await this.#answer(FAILED, this.#payload(Buffer.from(String(message))), options);
  }

  async #answer(status: number, payload: Uint8Array, options: WaitOptions | undefined): Promise<void> {
    this.#answering = true;
    try {
      await this.#client.answer(this.#id, status, payload, options);
      this.#answered = true;
    } finally {
      this.#answering = false;
    }
  }

  // An answer's bytes, once it is checked that this request may be answered with them.
  #payload(payload: Uint8Array): Uint8Array {
    if (this.#answered || this.#answering) {
      throw invalidState(`respond(): this request was ${this.#answered ? 'answered already' : 'being answered'}`);
    }
    this.#client.checkSize(payload);
    return payload;
  }
}

/** The server's side of one client: its response channel. */
class ClientEnd {
  readonly channel: Channel;
  /** The response channel's inode: a later hello naming the same memfd replaces this end. */
  readonly inode: number;
  readonly #longest: number;
  /** The response channel's words (read only while the channel is open). */
  readonly #words: Int32Array;
  #gone = false;

  constructor(channel: Channel, inode: number) {
    this.channel = channel;
    this.inode = inode;
    this.#longest = channel.maxMessageSize;
    this.#words = new Int32Array(channelInternals(channel).mapping.buffer, 0, 64);
  }

  // Gone: dropped, or its consumer closed the response channel (a bye that did not fit the ring).
  get gone(): boolean {
    if (!this.#gone && !this.channel.closed && this.#words[STATE_WORD]! & CONSUMER_CLOSED) this.close();
    return this.#gone;
  }

  checkSize(payload: Uint8Array): void {
    if (RESPONSE_HEADER + payload.length > this.#longest) {
      throw outOfRange(
        'data.byteLength',
        `<= ${this.#longest - RESPONSE_HEADER} (the service's maxMessageSize less 8)`,
        payload.length,
      );
    }
  }

  // Sends a response if the client's ring has room now: false if it has not (answer() waits for room). A
  // response may overtake one that waits: each names its request.
  tryAnswer(id: number, status: number, payload: Uint8Array): boolean {
    if (this.#gone) return true;
    try {
      return framedSends.trySend(this.channel, responseHead(id, status), payload);
    } catch (error) {
      if (!this.#dropped(error)) throw error;
      return true;
    }
  }

  async answer(id: number, status: number, payload: Uint8Array, options?: WaitOptions): Promise<void> {
    if (this.#gone) return;
    try {
      await framedSends.send(this.channel, responseHead(id, status), payload, options);
    } catch (error) {
      if (!this.#dropped(error)) throw error;
    }
  }

  answerSync(id: number, status: number, payload: Uint8Array, options?: SyncWaitOptions): void {
    const { timeout } = syncWaitOptions(options);
    if (this.#gone) return;
    try {
      framedSends.sendSync(this.channel, responseHead(id, status), payload, timeout);
    } catch (error) {
      if (!this.#dropped(error)) throw error;
    }
  }

  // A client that closed or died: its channel says EPIPE. Not the server's failure.
  #dropped(error: unknown): boolean {
    if (!(error instanceof IpcError && (error.code === 'EPIPE' || error.code === 'EBADF'))) return false;
    this.close();
    return true;
  }

  close(): void {
    this.#gone = true;
    this.channel.close();
  }
}

/**
 * The server of a request/response service over shared memory: clients (up to 31 at once, in any
 * processes) connect(), send requests of any size up to the limit, and get each response back on a
 * channel of their own, matched to its request. The server answers requests in any order.
 *
 * @example
 * ```ts
 * import { Service } from 'unipc';
 *
 * using server = Service.create({ name: '/upper', removeOnDispose: true });
 * (async () => {
 *   for await (const request of server) await request.respond(String(request.data).toUpperCase());
 * })();
 * // In any process:
 * const client = await Service.connect('/upper');
 * console.log(String(await client.request('hello', { timeout: 1000 }))); // 'HELLO'
 * client.close();
 * ```
 *
 * @see memfd_create(2), shm_open(3), futex(2), proc(5) (/proc/<pid>/fd, by which the server opens each
 *   client's response channel); Channel, which the service is made of.
 */
export class Service implements Disposable {
  /** The request channel's descriptor, for clients to connect() to (a memfd service's only way). */
  readonly fd: number;
  /** The POSIX shared memory name clients connect() to, or undefined (a memfd). */
  readonly name: string | undefined;
  /** The longest request or response, header included. */
  readonly maxMessageSize: number;
  readonly #requests: Channel;
  /**
   * A producer end of the request channel the server holds and never sends on: a channel ends when its
   * last producer leaves, and a service must outlive its clients.
   */
  readonly #keeper: Channel;
  readonly #clients = new Map<number, ClientEnd>();
  /** The header words of the request being taken (a hello, a request or a bye). */
  readonly #head = new Uint32Array(REQUEST_HEADER / 4);
  #closed = false;

  private constructor(requests: Channel, keeper: Channel) {
    this.#requests = requests;
    this.#keeper = keeper;
    this.fd = requests.fd;
    this.name = requests.name;
    this.maxMessageSize = requests.maxMessageSize;
  }

  /**
   * Makes a service: its request channel, in a memfd or under `name`. This object is its server.
   *
   * @throws what Channel.create() throws; argument errors.
   */
  static create(options?: ServiceOptions): Service {
    const { name, capacity = 1 << 20, maxMessageSize, removeOnDispose = false } = validateOptions(options);
    validateBoolean(removeOnDispose, 'options.removeOnDispose');
    if (maxMessageSize !== undefined)
      validateInteger(maxMessageSize, 'options.maxMessageSize', REQUEST_HEADER, 2 ** 30);
    const requests = Channel.create({
      name,
      capacity,
      maxMessageSize,
      multipleProducers: true,
      removeOnDispose,
      role: 'consumer',
    });
    try {
      const fd = check(native.open(`/proc/self/fd/${requests.fd}`, OPEN_CHANNEL, 0, -1), 'open', { fd: requests.fd });
      return new Service(requests, Channel.fromFd(fd, { role: 'producer' }));
    } catch (error) {
      requests.close();
      throw error;
    }
  }

  /**
   * Connects to a service by name (or by the descriptor of its request channel, which the client then
   * owns): makes the client's response channel (a memfd), tells the server where it is, and waits for
   * the server to take it up.
   *
   * @throws {@link IpcError} 'ECONNREFUSED' (the service's server is gone or closed it, or could not
   *   open this client's channel), 'EBUSY' (31 clients already), 'ETIMEDOUT' (`timeout`), 'ENOENT' (no
   *   such name), what Channel.open() throws; {@link AbortError} (`signal`).
   */
  static async connect(service: string | number, options?: WaitOptions): Promise<ServiceClient> {
    const checked = waitOptions(options);
    const requests = typeof service === 'number' ? Channel.fromFd(service) : Channel.open(service);
    try {
      const responses = Channel.create({ capacity: requests.capacity, maxMessageSize: requests.maxMessageSize });
      const client = new ServiceClient(requests, responses);
      try {
        await client.handshake(checked);
      } catch (error) {
        client.close();
        throw error;
      }
      return client;
    } catch (error) {
      if (!requests.closed) requests.close();
      throw error;
    }
  }

  /**
   * Removes a named service's name (a server that died cannot; its clients keep what they opened).
   *
   * @throws {@link IpcError} 'ENOENT' (no such name), 'EACCES' (another user's); argument errors.
   */
  static unlink(name: string): void {
    Channel.unlink(name);
  }

  /** How many clients are connected now. */
  get clients(): number {
    return this.#clients.size;
  }

  /**
   * The next request, waiting for one without blocking the event loop; null once the service is closed.
   *
   * @throws what Channel.receive() throws.
   */
  receive(options?: WaitOptions & RefOptions): Promise<ServiceRequest | null> {
    if (this.#closed) return Promise.resolve(null);
    return framedReceives.consume(this.#requests, options, this.#nextRequest).catch((error: unknown) => {
      if (this.#closed) return null; // closed while waiting
      throw error;
    });
  }

  /**
   * receive(), blocking the calling thread.
   *
   * @throws what Channel.receiveSync() throws.
   */
  receiveSync(options?: SyncWaitOptions): ServiceRequest | null {
    const { timeout } = syncWaitOptions(options);
    if (this.#closed) return null;
    return framedReceives.consumeSync(this.#requests, timeout, this.#nextRequest);
  }

  /** Requests until the service is closed. */
  [Symbol.asyncIterator](): AsyncGenerator<ServiceRequest, undefined, undefined> {
    return receiving(
      () => framedReceives.consume(this.#requests, undefined, this.#nextRequest),
      undefined,
      () => this.#closed, // closed while waiting
    );
  }

  /**
   * Closes the service: every client's pending and later requests fail with 'EPIPE'. Twice is harmless.
   *
   * @throws what Channel.close() throws.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
    this.#keeper.close();
    this.#requests.close();
  }

  /** close(), for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  // The channel's attempt for every receive form: the next request that is there now, taking the hellos
  // and byes before it; null at the end. The request is made within the attempt, while #head holds its
  // header (the next receive may take another message at once).
  readonly #nextRequest = (): ServiceRequest | null | typeof AGAIN => {
    const head = this.#head;
    for (;;) {
      if (this.#closed) return null;
      const message = framedReceives.attempt(this.#requests, head);
      if (message === AGAIN || message === null) return message;
      const request = this.#take(head[0]!, head[1]! * 65536 + (head[2]! & 0xffff), head[3]!, message);
      if (request !== undefined) return request;
    }
  };

  // A request; undefined for a message the server handles itself (a hello or a bye) or not ours (a
  // client of another kind: kind 0 is also what a message shorter than the header reads as). `key`: the
  // client's thread and serial.
  #take(kind: number, key: number, id: number, message: Buffer): ServiceRequest | undefined {
    if (kind === HELLO) {
      this.#welcome(key, message);
      return undefined;
    }
    const client = this.#clients.get(key);
    if (kind === BYE) {
      client?.close();
      this.#clients.delete(key);
      return undefined;
    }
    if (kind !== REQUEST || client === undefined || client.gone) return undefined;
    return new ServiceRequest(message, client, id);
  }

  // A client's hello (`message`: what follows its header): its nonce, then the path /proc/<pid>/fd/<fd>
  // of its response channel, which the server opens as its producer, answering with the welcome (the
  // nonce again). Clients whose threads are gone, or that closed their channel, are let go first; so is an
  // earlier end on the same memfd (a hello left from a connect() that gave up, whose descriptor number the
  // next one reused). A hello that fails is dropped: the client's connect() finds out by itself.
  #welcome(key: number, message: Buffer): void {
    for (const [other, client] of this.#clients) {
      if (client.gone || threadGone(Math.floor(other / 65536))) {
        client.close();
        this.#clients.delete(other);
      }
    }
    if (message.length < NONCE_BYTES) return;
    const nonce = message.subarray(0, NONCE_BYTES);
    const path = message.subarray(NONCE_BYTES).toString();
    if (!/^\/proc\/\d+\/fd\/\d+$/.test(path)) return;
    let fd = -1;
    try {
      fd = check(native.open(path, OPEN_CHANNEL, 0, -1), 'open', { path });
      const inode = fstat(fd).ino;
      for (const [other, client] of this.#clients) {
        if (client.inode !== inode) continue;
        client.close();
        this.#clients.delete(other);
      }
      this.#clients.get(key)?.close();
      this.#clients.delete(key);
      const channel = Channel.fromFd(fd, { role: 'producer' });
      fd = -1; // the channel's now
      const client = new ClientEnd(channel, inode);
      this.#clients.set(key, client);
      try {
        client.answerSync(WELCOME, OK, nonce, { timeout: LIVENESS_INTERVAL_MS });
      } catch {
        client.close();
        this.#clients.delete(key);
      }
    } catch {
      // the client is gone already, its descriptor is not ours to open, or it sent something else
      if (fd >= 0) native.close(fd);
    }
  }
}

interface Pending {
  resolve(value: Buffer): void;
  reject(error: unknown): void;
}

// A client's requests awaiting their response, by id. A client most often has one at a time: it is held
// in two fields, and a Map is used only for those that overlap it. (A Map that swings between 0 and 1
// entry allocates on every set() and delete(): 51 ns and ~150 B of garbage a pair on Node 20.)
class PendingRequests {
  #id = 0;
  #one: Pending | undefined;
  #more: Map<number, Pending> | undefined;

  get size(): number {
    return (this.#one === undefined ? 0 : 1) + (this.#more?.size ?? 0);
  }

  get(id: number): Pending | undefined {
    return this.#one !== undefined && this.#id === id ? this.#one : this.#more?.get(id);
  }

  set(id: number, pending: Pending): void {
    if (this.#one === undefined) {
      this.#id = id;
      this.#one = pending;
    } else {
      this.#more ??= new Map();
      this.#more.set(id, pending);
    }
  }

  delete(id: number): void {
    if (this.#one !== undefined && this.#id === id) this.#one = undefined;
    else this.#more?.delete(id);
  }

  /** Every pending request (all are failed at once: their order does not matter), and none from now on. */
  takeAll(): Pending[] {
    const all = [...(this.#more?.values() ?? [])];
    if (this.#one !== undefined) all.push(this.#one);
    this.#one = undefined;
    this.#more?.clear();
    return all;
  }
}

/**
 * A client of a Service (Service.connect()): requests, each answered by the server on this client's own
 * channel. Requests may overlap; a server that dies fails every pending one with 'EPIPE'.
 *
 * @example
 * ```ts
 * import { Service } from 'unipc';
 *
 * using client = await Service.connect('/upper', { timeout: 1000 });
 * const [a, b] = await Promise.all([client.request('one'), client.request('two', { timeout: 500 })]);
 * console.log(String(a), String(b)); // 'ONE TWO', each matched to its request
 * ```
 *
 * @see memfd_create(2) (its response channel), futex(2)
 */
export class ServiceClient implements Disposable {
  /** The longest request's bytes (the service's maxMessageSize less the 16-byte header). */
  readonly maxRequestSize: number;
  readonly #requests: Channel;
  readonly #responses: Channel;
  readonly #pending = new PendingRequests();
  readonly #header = new Int32Array(REQUEST_HEADER / 4);
  /** The header words (request id, status) of the response being taken. */
  readonly #responseHead = new Uint32Array(RESPONSE_HEADER / 4);
  /** The client's thread and a number of its own: what the server knows it by. */
  readonly #tid = threadId();
  readonly #serial = ++serials & 0xffff;
  #nextId = 1;
  /** The response reader while it runs. */
  #reader: Reader | undefined;
  /** Sends of this client's requests that wait for room in the ring: later ones go after them. */
  #sendsWaiting = 0;
  /** A reader whose controller was left unused, for the next. */
  #spareReader: Reader | undefined;
  #failure: unknown;
  #closed = false;

  /** @internal */
  constructor(requests: Channel, responses: Channel) {
    this.#requests = requests;
    this.#responses = responses;
    this.maxRequestSize = requests.maxMessageSize - REQUEST_HEADER;
  }

  /**
   * @internal Sends the hello and waits for the welcome that carries its nonce. Every 100 ms without it,
   * checks that the server lives, and whether it took the hello already (the request channel's head is
   * past it): a server that took it and sent no welcome within a second could not open this client's
   * channel.
   */
  async handshake(options: WaitOptions): Promise<void> {
    const deadline = options.timeout === undefined ? undefined : performance.now() + options.timeout;
    const nonce = randomBytes(NONCE_BYTES);
    const path = Buffer.from(`/proc/${process.pid}/fd/${this.#responses.fd}`);
    try {
      await framedSends.send(this.#requests, this.#head(HELLO, 0), Buffer.concat([nonce, path]), {
        signal: options.signal,
        timeout: options.timeout,
      });
    } catch (error) {
      if (error instanceof IpcError && error.code === 'EPIPE') throw refused('the service was closed by its server');
      throw error;
    }
    const words = new Int32Array(channelInternals(this.#requests).mapping.buffer, 0, 64);
    const sent = Atomics.load(words, TAIL_WORD);
    let taken = 0;
    for (;;) {
      if (options.signal?.aborted) throw abortedError(options.signal);
      const left =
        deadline === undefined ? LIVENESS_INTERVAL_MS : Math.min(LIVENESS_INTERVAL_MS, deadline - performance.now());
      if (left <= 0) throw timeoutError('connect', options.timeout!);
      try {
        const welcome = await this.#responses.receive({ timeout: left, signal: options.signal });
        if (welcome?.subarray(RESPONSE_HEADER).equals(nonce) && welcome.readUInt32LE(0) === WELCOME) return;
        continue; // a welcome for an earlier hello on a reused descriptor, or the end a replaced end left
      } catch (error) {
        if (!(error instanceof IpcError && error.code === 'ETIMEDOUT')) throw error;
      }
      const server = Atomics.load(words, CONSUMER_WORD);
      if (server !== 0 && threadGone(server)) throw refused(`the service's server (thread ${server}) is gone`);
      if (taken > 0 || (Atomics.load(words, HEAD_WORD) - sent) | 0) taken++;
      if (taken > WELCOME_SLICES) {
        throw refused(`the server took the hello but could not open this client's channel (${path})`);
      }
    }
  }

  /** How many requests await their response. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Sends a request and resolves with its response. Requests may overlap; each gets its own response.
   *
   * @throws {@link IpcError} 'EPIPE' (the server closed the service or died, also for requests already
   *   pending), 'ETIMEDOUT' (`timeout`, for the whole round trip), 'EBADF' (closed); {@link ServiceError}
   *   (the server called fail()); {@link AbortError} (`signal`); ERR_OUT_OF_RANGE (longer than
   *   maxRequestSize); argument errors.
   */
  request(data: string | ArrayBufferView | ArrayBuffer, options?: WaitOptions): Promise<Buffer> {
    let checked: WaitOptions;
    let bytes: Uint8Array;
    try {
      checked = waitOptions(options);
      if (checked.signal?.aborted) throw abortedError(checked.signal);
      bytes = this.#request(data);
      if (this.#failure !== undefined) throw this.#failure;
    } catch (error) {
      return Promise.reject(error);
    }
    const id = this.#takeId();
    const answer = new Promise<Buffer>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    if (checked.timeout !== undefined || checked.signal !== undefined)
      return this.#requestWithin(bytes, id, answer, checked);
    // Nothing can cancel it: the caller awaits the promise the reader settles, with no race, timer or
    // listener, and no turn of the microtask queue between the response and the caller.
    try {
      this.#send(bytes, id, undefined);
    } catch (error) {
      this.#pending.delete(id);
      return Promise.reject(error);
    }
    this.#read(); // after the send: the request goes out first, the response takes longer than this
    return answer;
  }

  // Sends a request in call order: at once when the ring has room and no earlier request of this client
  // waits for it (no promise then); else after those, failing the request if the send fails.
  #send(bytes: Uint8Array, id: number, options: WaitOptions | undefined): Promise<void> | undefined {
    const head = this.#head(REQUEST, id);
    if (this.#sendsWaiting === 0 && options === undefined && framedSends.trySend(this.#requests, head, bytes))
      return undefined;
    this.#sendsWaiting++;
    const sent = framedSends.send(this.#requests, head, bytes, options).finally(() => this.#sendsWaiting--);
    sent.catch((error: unknown) => {
      this.#pending.get(id)?.reject(error);
      this.#settled(id);
    });
    return sent;
  }

  // request() with a timeout or a signal: whichever comes first, the answer or the cancellation.
  async #requestWithin(bytes: Uint8Array, id: number, answer: Promise<Buffer>, checked: WaitOptions): Promise<Buffer> {
    answer.catch(() => {}); // handled below once sent; a failure meanwhile must not go unhandled
    const deadline = checked.timeout === undefined ? undefined : performance.now() + checked.timeout;
    let timer: NodeJS.Timeout | undefined;
    let stopAbort: (() => void) | undefined;
    const cancelled = new Promise<never>((_, reject) => {
      if (checked.timeout !== undefined) {
        timer = setTimeout(() => reject(timeoutError('request', checked.timeout!)), checked.timeout);
      }
      if (checked.signal !== undefined) {
        const signal = checked.signal;
        const onAbort = () => reject(abortedError(signal));
        signal.addEventListener('abort', onAbort, { once: true });
        stopAbort = () => signal.removeEventListener('abort', onAbort);
      }
    });
    try {
      const left = deadline === undefined ? undefined : Math.max(0, deadline - performance.now());
      await Promise.race([this.#send(bytes, id, { timeout: left, signal: checked.signal }), cancelled]);
      this.#read();
      return await Promise.race([answer, cancelled]);
    } finally {
      clearTimeout(timer);
      stopAbort?.();
      this.#settled(id);
    }
  }

  // A request is done with (answered, failed, timed out or aborted): the reader stops once none is left.
  #settled(id: number): void {
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#reader?.controller.abort();
  }

  /**
   * request(), blocking the calling thread until the response comes (responses to overlapping Promise-form
   * requests that come meanwhile are handed to them).
   *
   * @throws what request() rejects with, except AbortError.
   */
  requestSync(data: string | ArrayBufferView | ArrayBuffer, options?: SyncWaitOptions): Buffer {
    const { timeout } = syncWaitOptions(options);
    const bytes = this.#request(data);
    if (this.#failure !== undefined) throw this.#failure;
    const id = this.#takeId();
    const deadline = timeout === undefined ? undefined : performance.now() + timeout;
    const left = () => (deadline === undefined ? undefined : Math.max(0, deadline - performance.now()));
    framedSends.sendSync(this.#requests, this.#head(REQUEST, id), bytes, left());
    const head = this.#responseHead;
    for (;;) {
      let response: Buffer | null;
      try {
        response = framedReceives.consumeSync(this.#responses, left(), this.#takeResponse);
      } catch (error) {
        if (error instanceof IpcError && error.code === 'ETIMEDOUT') throw timeoutError('request', timeout!);
        this.#fail(error);
        throw error;
      }
      if (response === null) {
        const error = this.#ended();
        this.#fail(error);
        throw error;
      }
      if (head[0] === id) return outcome(head[1]!, response);
      this.#dispatch(head[0]!, head[1]!, response);
    }
  }

  readonly #takeResponse = (): Buffer | null | typeof AGAIN =>
    framedReceives.attempt(this.#responses, this.#responseHead);

  /**
   * Leaves the service: pending requests reject with 'EBADF'. Twice is harmless.
   *
   * @throws what Channel.close() throws.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#requests.closed) {
      try {
        framedSends.sendSync(this.#requests, this.#head(BYE, 0), new Uint8Array(0), LIVENESS_INTERVAL_MS);
      } catch {
        // a server that is gone needs no goodbye
      }
      this.#requests.close();
    }
    this.#fail(new IpcError(E.EBADF, 'request', {}, 'the client was closed'));
    this.#responses.close();
  }

  /** close(), for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  // A request's bytes, checked.
  #request(data: unknown): Uint8Array {
    if (this.#closed) throw new IpcError(E.EBADF, 'request', {}, 'the client is closed');
    const bytes = toBytes(data, 'data');
    if (bytes.length > this.maxRequestSize) {
      throw outOfRange(
        'data.byteLength',
        `<= ${this.maxRequestSize} (the service's maxMessageSize less 16)`,
        bytes.length,
      );
    }
    return bytes;
  }

  #takeId(): number {
    const id = this.#nextId;
    this.#nextId = this.#nextId === 0xffffffff ? 1 : this.#nextId + 1;
    return id;
  }

  // A message's header (kind, client thread, client serial, request id): written into the ring before
  // its bytes, from this one array, which the next message reuses.
  #head(kind: number, id: number): Int32Array {
    const head = this.#header;
    head[0] = kind;
    head[1] = this.#tid;
    head[2] = this.#serial;
    head[3] = id;
    return head;
  }

  // Settles the request `id` answered with `status` and `payload`.
  #dispatch(id: number, status: number, payload: Buffer): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return; // a request that timed out or was aborted
    this.#pending.delete(id);
    try {
      pending.resolve(outcome(status, payload));
    } catch (error) {
      pending.reject(error);
    }
  }

  #ended(): IpcError {
    return new IpcError(E.EPIPE, 'request', {}, 'the service was closed by its server');
  }

  // Rejects every pending request, and every later one, with `error`.
  #fail(error: unknown): void {
    this.#failure ??= error;
    for (const pending of this.#pending.takeAll()) pending.reject(error);
  }

  // The response reader: one Promise-form receive at a time while requests are pending. The receive is
  // ref'd (the pending requests keep the process alive) and aborted once none is left, which loses
  // nothing: a response that comes later is taken by the next reader. A reader that ends by itself (its
  // last response came) leaves its controller to the next one: making an AbortController costs more
  // than the rest of a request. The reader is callbacks made once, not an async function: with one
  // request at a time each request starts a reader, and an async function's frame and promise were
  // ~500 B of the ~2.1 KB a request allocated in the client.
  #read(): void {
    if (this.#reader !== undefined) return;
    this.#reader = this.#spareReader ?? newReader();
    this.#spareReader = undefined;
    this.#readNext();
  }

  #readNext(): void {
    if (this.#pending.size > 0 && !this.#closed) {
      framedReceives
        .consume(this.#responses, this.#reader!.options, this.#dispatchResponses)
        .then(this.#onResponses, this.#onReadFailure);
    } else {
      this.#readerDone();
    }
  }

  // The reader's attempt: settles the requests whose responses are there now, within the channel's wait
  // (each caller's await resumes one turn of the microtask queue after its response is taken): how many,
  // AGAIN if none is there yet, null at the end. The Promise of the wait resolves with a number, not a
  // response: a promise resolved with an object costs a lookup of its `then`.
  readonly #dispatchResponses = (): number | null | typeof AGAIN => {
    const head = this.#responseHead;
    let taken = 0;
    do {
      const response = framedReceives.attempt(this.#responses, head);
      if (response === AGAIN) break;
      if (response === null) return taken > 0 ? taken : null;
      this.#dispatch(head[0]!, head[1]!, response);
      taken++;
    } while (this.#pending.size > 0);
    return taken > 0 ? taken : AGAIN;
  };

  readonly #onResponses = (taken: number | null): void => {
    if (taken === null) {
      this.#onReadFailure(this.#ended());
      return;
    }
    this.#readNext();
  };

  readonly #onReadFailure = (error: unknown): void => {
    if (!this.#reader!.controller.signal.aborted && !this.#closed) this.#fail(error);
    this.#readerDone();
  };

  #readerDone(): void {
    const reader = this.#reader!;
    this.#reader = undefined;
    if (!reader.controller.signal.aborted) this.#spareReader = reader;
    if (this.#pending.size > 0 && !this.#closed && this.#failure === undefined) this.#read();
  }
}

// A response reader's controller, and the options of its receives (made once for all of them).
interface Reader {
  controller: AbortController;
  options: { signal: AbortSignal };
}

function newReader(): Reader {
  const controller = new AbortController();
  return { controller, options: { signal: controller.signal } };
}

// A response's outcome: its payload, or (FAILED) the ServiceError the server's message makes.
function outcome(status: number, payload: Buffer): Buffer {
  if (status === OK) return payload;
  throw new ServiceError(payload.toString());
}

function refused(message: string): IpcError {
  return new IpcError(E.ECONNREFUSED, 'connect', {}, message);
}
