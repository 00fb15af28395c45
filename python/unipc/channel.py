"""The shared-memory channel of unipc, for Python: the same bytes and the same protocol as src/channel.ts
(Node) and include/unipc/channel.h (C), so a Python program can be a producer or the consumer of a
channel whose other ends are Node processes or C programs. Layout and protocol: docs/channel.md, which
this module follows word for word; the producers' lock is the robust mutex of docs/locks.md. Standard
library only (mmap, struct, os, ctypes); Linux; CPython 3.8 or later. See docs/python.md.

    from unipc import Channel

    with Channel.from_fd(3) as channel:      # a memfd handed over as fd 3 (or Channel.open("/name"))
        for message in channel:              # bytes, until every producer has closed
            print(len(message))

Atomics: Python has no atomic operations on shared memory, so every sequentially consistent load, store,
compare-and-swap, fetch-add, fetch-or and fetch-and goes through the GCC runtime library libatomic
(libatomic.so.1), called with ctypes on the mapping's addresses (_shared.py, shared with topic.py).
Without libatomic.so.1 (Debian: apt-get install libatomic1) importing this module raises ImportError:
nothing else the standard library can reach does a compare-and-swap.

An end (a Channel object) is used by one thread at a time, and its role is held by the thread that
claimed it (the first send or receive, or claim()): that thread's id is what the other ends check for
liveness, so it must live as long as the end does, and every end must be in one PID namespace.
"""

from __future__ import annotations

import errno
import mmap
import os
import struct
import threading
from typing import Iterator, Optional, Union

from ._shared import (
    DEFAULT_SPIN,
    INT_MAX,
    SEQ_CST,
    SLICE_NS,
    U32,
    _atomic_exchange,
    _atomic_fetch_add,
    _atomic_fetch_sub,
    _base_of,
    _cas,
    _cpu,
    _error,
    _fetch_and,
    _fetch_or,
    _futex_wait,
    _futex_wake,
    _load,
    _map_fd,
    _now_ns,
    _open_shm,
    _shm_path,
    _sleep,
    _store,
    _thread,
    _thread_gone,
    _word,
)

__all__ = ["Channel", "DEFAULT_SPIN", "MAX_PRODUCERS"]

# ---- Layout (docs/channel.md, "Layout") ----------------------------------------------------------------

MAGIC = 0x48434E55  # 'UNCH' in memory
VERSION = 1
HEADER_BYTES = 4096
MIN_CAPACITY = 4096
MAX_CAPACITY = 0x40000000
MAX_PRODUCERS = 32
WRAP = 0xFFFFFFFF  # a length word: the next record starts at offset 0
NO_CPU = 0xFFFFFFFF  # -1

# flags (byte 20)
MULTIPLE_PRODUCERS = 1
# state (byte 204)
PRODUCER_ATTACHED = 1
CONSUMER_CLOSED = 2
PRODUCER_DIED = 4

# Byte offsets of the header's words.
O_MAGIC = 0
O_VERSION = 4
O_CAPACITY = 8
O_MAX_MESSAGE_SIZE = 12
O_DATA_OFFSET = 16
O_FLAGS = 20
O_HEAD = 64
O_CONSUMER_CPU = 68
O_TAIL = 128
O_PRODUCER_CPU = 132
O_CONSUMER_WAITING = 192
O_PRODUCER_WAITING = 196
O_CONSUMER = 200
O_STATE = 204
O_PRODUCER_MASK = 208
O_PRODUCER_LOCK = 256
O_PRODUCER_SLOTS = 320

# The robust mutex word (docs/locks.md).
TID_MASK = 0x3FFFFFFF
OWNER_DIED = 0x40000000
WAITERS = 0x80000000
NOT_RECOVERABLE = TID_MASK


# ---- The robust mutex of docs/locks.md (the producers' lock) -----------------------------------------


def _mutex_attempt(address: int, tid: int, extra: int) -> int:
    """One try: 0 taken, EOWNERDEAD taken after a dead owner, ENOTRECOVERABLE, or EBUSY."""
    word = _load(address)
    owner = word & TID_MASK
    if owner == NOT_RECOVERABLE:
        return errno.ENOTRECOVERABLE
    if owner != 0:
        return errno.EBUSY
    desired = tid | (word & (WAITERS | OWNER_DIED)) | extra
    if not _cas(address, word, desired):
        return errno.EBUSY
    return errno.EOWNERDEAD if word & OWNER_DIED else 0


def _mutex_timedlock(address: int, tid: int, deadline_ns: Optional[int], spin: int) -> int:
    """Takes the mutex: 0, EOWNERDEAD, ENOTRECOVERABLE, EDEADLK, or ETIMEDOUT past `deadline_ns` (None:
    none). As unipc_mutex_timedlock of include/unipc/lock.h."""
    contended = 0
    while True:
        r = _mutex_attempt(address, tid, contended)
        if r != errno.EBUSY:
            return r
        word = _load(address)
        owner = word & TID_MASK
        if owner == tid:
            return errno.EDEADLK
        freed = False
        for _ in range(spin):
            if _load(address) & TID_MASK == 0:
                freed = True
                break
        if freed:
            continue
        word = _load(address)
        owner = word & TID_MASK
        if owner == 0:
            continue
        if not (word & WAITERS) and not _cas(address, word, word | WAITERS):
            continue
        slice_ns = SLICE_NS
        if deadline_ns is not None:
            left = deadline_ns - _now_ns()
            if left <= 0:
                return errno.ETIMEDOUT
            slice_ns = min(slice_ns, left)
        w = _futex_wait(address, word | WAITERS, slice_ns)
        contended = WAITERS
        if w == -errno.ETIMEDOUT and owner != NOT_RECOVERABLE:
            now = _load(address)
            if (
                now & TID_MASK == owner
                and _thread_gone(owner)
                and _cas(address, now, tid | OWNER_DIED | WAITERS)
            ):
                return errno.EOWNERDEAD


def _mutex_unlock(address: int, tid: int) -> int:
    """0, or EPERM if this thread does not hold it."""
    if _cas(address, tid, 0):
        return 0
    word = _load(address)
    if word & TID_MASK != tid:
        return errno.EPERM
    if word & OWNER_DIED:
        _store(address, NOT_RECOVERABLE)
        _futex_wake(address, INT_MAX)
        return 0
    if _atomic_exchange(address, 0, SEQ_CST) & WAITERS:
        _futex_wake(address, 1)
    return 0


# ---- The channel ---------------------------------------------------------------------------------------

_AGAIN = object()  # an attempt that cannot proceed now
_END = object()  # every producer closed and everything sent is received

def _is_capacity(capacity: int) -> bool:
    return MIN_CAPACITY <= capacity <= MAX_CAPACITY and capacity & (capacity - 1) == 0


BytesLike = Union[bytes, bytearray, memoryview]


class Channel:
    """One end of a unipc channel: a ring of messages in shared memory, from up to 32 producers to one
    consumer, with Node (src/channel.ts) and C (include/unipc/channel.h) ends in other processes.

    Get one with :meth:`open` (POSIX shared memory by name), :meth:`from_fd` (a memfd handed over as a
    descriptor) or :meth:`create`. The first :meth:`send` makes the end a producer, the first
    :meth:`receive` the consumer. Messages are copied in and out (``bytes``); blocking calls wait with
    the channel's futex protocol and check every 100 ms of quiet that the other side still lives.

    Errors are :class:`OSError` with ``errno`` set: ``BrokenPipeError`` (EPIPE: the consumer closed or
    died, or a producer died), ``TimeoutError`` (ETIMEDOUT), ``BlockingIOError`` (EAGAIN), and ``OSError``
    with EMSGSIZE, EPROTO, EBUSY, EINVAL, EBADF.

    >>> with Channel.open("/jobs") as jobs:          # made by Node: Channel.create({ name: '/jobs' })
    ...     jobs.send(b"hello from Python")
    """

    def __init__(self, memory: mmap.mmap, *, name: Optional[str] = None, fd: int = -1,
                 spin: Optional[int] = None) -> None:
        """Use :meth:`open`, :meth:`from_fd` or :meth:`create`. Checks the header (EPROTO) before
        anything is written; takes ownership of `memory` (and of `fd`, closed by :meth:`close`)."""
        length = len(memory)
        if length < HEADER_BYTES:
            raise _error(errno.EPROTO, f"not a unipc channel ({length} bytes, less than its header)")
        self._memory = memory
        self._anchor, base = _base_of(memory)  # the anchor pins the mapping while addresses are in use
        self._base = base
        if _load(base + O_MAGIC) != MAGIC:
            self._release_memory()
            raise _error(errno.EPROTO, "not a unipc channel (no magic number at its start)")
        version, capacity, longest, data_offset, flags = struct.unpack_from("=5I", memory, O_VERSION)
        problem = None
        if version != VERSION:
            problem = f"a channel of layout version {version}; this module speaks version {VERSION}"
        elif not _is_capacity(capacity):
            problem = f"a damaged channel header (capacity {capacity})"
        elif longest < 1 or longest > capacity // 2 - 8:
            problem = f"a damaged channel header (maxMessageSize {longest} for capacity {capacity})"
        elif data_offset != HEADER_BYTES:
            problem = f"a damaged channel header (data offset {data_offset})"
        elif length - HEADER_BYTES < capacity:
            problem = f"the channel's memory is shorter than its capacity ({capacity})"
        if problem is not None:
            self._release_memory()
            raise _error(errno.EPROTO, problem)
        self._capacity = capacity
        self._mask = capacity - 1
        self._max_message_size = longest
        self._multiple_producers = bool(flags & MULTIPLE_PRODUCERS)  # undefined bits are ignored
        self._name = name
        self._fd = fd
        self.spin = DEFAULT_SPIN if spin is None else spin
        self._role: Optional[str] = None
        self._slot = -1
        self._tid = 0
        self._closed = False
        self._known_head = 0  # the head a single producer last read
        self._known_tail = 0  # the tail the consumer last read
        self._full_at = 0  # the head a full ring showed: a producer sleeps until it moves

    # ---- Making and opening ----

    @classmethod
    def open(cls, name: str, *, spin: Optional[int] = None) -> "Channel":
        """The channel another process made under POSIX shared memory name `name` ('/name'; the file
        /dev/shm/name), e.g. Node's ``Channel.create({ name: '/name' })``.

        Raises FileNotFoundError (ENOENT), PermissionError (EACCES), OSError EPROTO (not a unipc channel,
        one of another layout version, or a damaged header).

        >>> channel = Channel.open("/unipc-jobs")
        """
        fd = _open_shm(name)
        try:
            return cls._map(fd, name=name if name.startswith("/") else "/" + name, spin=spin)
        finally:
            os.close(fd)

    @classmethod
    def from_fd(cls, fd: int, *, spin: Optional[int] = None) -> "Channel":
        """The channel behind descriptor `fd`: a memfd handed over (Node: ``spawn(..., { fds: [channel.fd]
        })`` makes it fd 3), or a POSIX shared memory object's. The descriptor stays the caller's: it may
        be closed at once.

        Raises OSError EBADF, EACCES (a read-only descriptor), EPROTO (not a unipc channel).

        >>> channel = Channel.from_fd(3)
        """
        return cls._map(fd, spin=spin)

    @classmethod
    def _map(cls, fd: int, *, name: Optional[str] = None, spin: Optional[int] = None) -> "Channel":
        memory = _map_fd(fd, HEADER_BYTES, "channel")
        try:
            return cls(memory, name=name, spin=spin)
        except BaseException:
            if not memory.closed:
                memory.close()
            raise

    @classmethod
    def create(cls, name: Optional[str] = None, *, capacity: int = 1 << 20,
               max_message_size: Optional[int] = None, multiple_producers: bool = False,
               spin: Optional[int] = None) -> "Channel":
        """Makes a channel, as Node's ``Channel.create()`` does: in a memfd (``name`` None; hand
        :attr:`fd` to another process), or in POSIX shared memory under ``name`` (created exclusively,
        mode 0600; it stays until :meth:`unlink`). ``capacity`` is a power of two from 4096 to 2**30;
        ``max_message_size`` is at most capacity / 2 - 8 (default capacity / 4).

        Raises FileExistsError (EEXIST: the name is taken), ValueError for bad arguments.

        >>> channel = Channel.create("/unipc-jobs", capacity=1 << 16)
        """
        if not isinstance(capacity, int) or not _is_capacity(capacity):
            raise ValueError(f"capacity must be a power of two from {MIN_CAPACITY} to {MAX_CAPACITY}: {capacity!r}")
        longest = capacity // 4 if max_message_size is None else max_message_size
        if not isinstance(longest, int) or not 1 <= longest <= capacity // 2 - 8:
            raise ValueError(f"max_message_size must be from 1 to {capacity // 2 - 8}: {longest!r}")
        size = HEADER_BYTES + capacity
        path = None
        if name is None:
            fd = os.memfd_create("unipc-channel", os.MFD_CLOEXEC)
        else:
            path = _shm_path(name)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            os.ftruncate(fd, size)
            memory = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            anchor, base = _base_of(memory)
            struct.pack_into("=5I", memory, O_VERSION, VERSION, capacity, longest, HEADER_BYTES,
                             MULTIPLE_PRODUCERS if multiple_producers else 0)
            _word.pack_into(memory, O_CONSUMER_CPU, NO_CPU)
            _word.pack_into(memory, O_PRODUCER_CPU, NO_CPU)
            _store(base + O_MAGIC, MAGIC)  # last: an opener never sees half a header
            del anchor
            if name is None:
                return cls(memory, fd=fd, spin=spin)
            os.close(fd)
            fd = -1
            return cls(memory, name=name if name.startswith("/") else "/" + name, spin=spin)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            if path is not None:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
            raise

    @staticmethod
    def unlink(name: str) -> None:
        """Removes the name of POSIX shared memory object `name` (shm_unlink(3)); ends that have it open
        keep it. Raises FileNotFoundError (ENOENT)."""
        os.unlink(_shm_path(name))

    # ---- What it is ----

    @property
    def capacity(self) -> int:
        """Bytes of the ring."""
        return self._capacity

    @property
    def max_message_size(self) -> int:
        """The longest message, in bytes."""
        return self._max_message_size

    @property
    def multiple_producers(self) -> bool:
        """Whether up to 32 producers may send (under the producers' lock), rather than one."""
        return self._multiple_producers

    @property
    def name(self) -> Optional[str]:
        """The POSIX shared memory name ('/name'), or None for a memfd."""
        return self._name

    @property
    def fd(self) -> int:
        """The memfd of a channel :meth:`create` made without a name (to hand to another process), else -1."""
        return self._fd

    @property
    def role(self) -> Optional[str]:
        """'producer', 'consumer', or None until the first send or receive (or :meth:`claim`)."""
        return self._role

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def producers(self) -> int:
        """How many producers are attached now (a dead one counts until the consumer notices)."""
        self._check_open()
        return bin(_load(self._base + O_PRODUCER_MASK)).count("1")

    # ---- Roles ----

    def claim(self, role: str, *, resume: bool = False) -> None:
        """Makes this end the channel's 'producer' or its 'consumer' now, rather than at the first send or
        receive: a producer that then sends nothing still ends the stream when it closes. A producer that
        takes over the slot of one that died without closing records that death (the consumer's receive
        then fails with EPIPE once it has everything), as the consumer would have. ``resume`` (producers
        only): this producer continues a dead one's stream, records no death, and clears the mark that
        made the consumer's receive fail with EPIPE. The calling thread holds the role.

        Raises OSError EBUSY (a live consumer exists; every producer slot is taken), EINVAL (another role),
        EBADF (closed).
        """
        self._check_open()
        if role not in ("producer", "consumer"):
            raise ValueError(f"role must be 'producer' or 'consumer': {role!r}")
        if resume and role != "producer":
            raise ValueError("resume is for producers")
        if self._role is not None and self._role != role:
            raise _error(errno.EINVAL, f"this end is the channel's {self._role}, not its {role}")
        if self._role is None:
            if role == "producer":
                self._attach_producer(resume)
            else:
                self._attach_consumer()
            self._role = role
        if resume:  # after the slot is taken: a consumer that looks in between still sees the death
            _fetch_and(self._base + O_STATE, ~PRODUCER_DIED)

    def _attach_consumer(self) -> None:
        base = self._base
        tid = threading.get_native_id()
        self._known_tail = _load(base + O_HEAD)
        current = _load(base + O_CONSUMER)
        if (current != 0 and not _thread_gone(current)) or not _cas(base + O_CONSUMER, current, tid):
            holder = current or _load(base + O_CONSUMER)
            raise _error(errno.EBUSY, f"the channel has a consumer already (thread {holder}): one per channel")
        self._tid = tid

    def _attach_producer(self, resume: bool) -> None:
        """A free slot (compare and swap 0 -> this thread's id), else the slot of a thread that is gone;
        then its bit in producerMask (atomic OR), then PRODUCER_ATTACHED in state (docs/channel.md,
        "Roles"), as unipc_channel_attach_producer_ of include/unipc/channel.h."""
        base = self._base
        tid = threading.get_native_id()
        slots = MAX_PRODUCERS if self._multiple_producers else 1
        for take_over in (False, True):
            for slot in range(slots):
                word = base + O_PRODUCER_SLOTS + 4 * slot
                current = _load(word)
                if (current == 0 or not _thread_gone(current)) if take_over else current != 0:
                    continue
                if not _cas(word, current, tid):
                    continue
                bit = 1 << slot
                # Only the thread whose id is in a slot changes its bit: found set on a slot taken over
                # from a dead id, it is the dead producer's, which never closed (found clear: it was
                # killed in its close, and ended its stream). Unless resuming, the death is recorded
                # here, as the consumer's reap no longer can (the slot no longer names the dead thread).
                died = bool(_fetch_or(base + O_PRODUCER_MASK, bit) & bit) and current != 0
                _fetch_or(base + O_STATE, PRODUCER_ATTACHED | (PRODUCER_DIED if died and not resume else 0))
                self._slot = slot
                self._tid = tid
                self._known_head = _load(base + O_HEAD)
                return
        raise _error(
            errno.EBUSY,
            f"the channel has {MAX_PRODUCERS} producers already"
            if self._multiple_producers
            else "the channel has a producer already: one, unless created with multiple producers",
        )

    # ---- Sending ----

    def send(self, data: BytesLike, timeout: Optional[float] = None) -> None:
        """Sends `data` as one message (it may be empty), waiting while the ring is full: for good
        (``timeout`` None) or at most ``timeout`` seconds. The first send makes this end a producer.

        Raises BrokenPipeError (EPIPE: the consumer closed, or died while this end waited), TimeoutError
        (ETIMEDOUT), OSError EMSGSIZE (longer than max_message_size), EBUSY (no producer slot free),
        EINVAL (this end is the consumer), EBADF (closed).

        >>> channel.send(b"job 1")
        >>> channel.send(b"job 2", timeout=5.0)
        """
        data = self._prepare_send(data)
        if timeout is not None and timeout <= 0:
            if self._wait(True, 0, data) is _AGAIN:
                raise _error(errno.EAGAIN, "the ring is full (or another producer is sending)")
            return
        self._wait(True, timeout, data)

    def try_send(self, data: BytesLike) -> bool:
        """Sends `data` if there is room now: True, or False when the ring is full (or, with multiple
        producers, another producer holds the lock). Never waits, so never checks the consumer's life.
        Raises as :meth:`send` (not ETIMEDOUT).

        >>> while not channel.try_send(b"tick"):
        ...     do_something_else()
        """
        data = self._prepare_send(data)
        return self._wait(True, 0, data) is not _AGAIN

    def _prepare_send(self, data: BytesLike) -> BytesLike:
        self._check_open()
        if not isinstance(data, (bytes, bytearray)):
            data = memoryview(data).cast("B")  # any buffer, counted in bytes
        if len(data) > self._max_message_size:
            raise _error(errno.EMSGSIZE,
                         f"the message is {len(data)} bytes, more than the channel's {self._max_message_size}")
        if self._role != "producer":
            self.claim("producer")
        return data

    def _send_attempt(self, data: BytesLike):
        """One send: None (sent), _AGAIN (no room now; _full_at holds the head that said so); raises
        EPIPE. A multi-producer channel's caller holds the producers' lock."""
        base = self._base
        memory = self._memory
        if _load(base + O_STATE) & CONSUMER_CLOSED:
            raise _error(errno.EPIPE, "the consumer closed the channel")
        capacity = self._capacity
        tail = _word.unpack_from(memory, O_TAIL)[0]  # this side's own index
        size = len(data)
        need = 4 + ((size + 3) & ~3)
        position = tail & self._mask
        skip = capacity - position if position + need > capacity else 0
        # A single producer re-reads head only when the head it saw last (which can only have grown)
        # leaves too little room; with several, tail moves under it too: it re-reads.
        used = (tail - self._known_head) & U32
        if self._multiple_producers or not (used <= capacity and capacity - used >= skip + need):
            head = _load(base + O_HEAD)
            self._known_head = head
            used = (tail - head) & U32
            if not (used <= capacity and capacity - used >= skip + need):
                self._full_at = head
                return _AGAIN
        if skip > 0:
            _word.pack_into(memory, HEADER_BYTES + position, WRAP)
            position = 0
        start = HEADER_BYTES + position
        _word.pack_into(memory, start, size)
        if size > 0:
            memory[start + 4 : start + 4 + size] = data
        self._move(O_PRODUCER_CPU, O_TAIL, (tail + skip + need) & U32, O_CONSUMER_WAITING, 1)
        return None

    def _move(self, cpu_word: int, index_word: int, index: int, waiting_word: int, wake: int) -> None:
        """Stores a side's index (the tail publishes the records before it, the head gives their room
        back) after refreshing the side's CPU word, and wakes up to `wake` sleepers on it if the other
        side counted any: the waiting count is read after the store (docs/channel.md, "Waiting")."""
        base = self._base
        cpu = _thread.cpu & U32
        if _word.unpack_from(self._memory, cpu_word)[0] != cpu:
            _word.pack_into(self._memory, cpu_word, cpu)
        _store(base + index_word, index)  # a sequentially consistent store: a full fence on x86-64
        if _load(base + waiting_word) != 0:
            _futex_wake(base + index_word, wake)

    # ---- Receiving ----

    def receive(self, timeout: Optional[float] = None) -> Optional[bytes]:
        """The next message (a copy), waiting for one: for good (``timeout`` None) or at most ``timeout``
        seconds. None once every producer has closed and everything sent is received (the end; a producer
        that attaches later, a restarted one, sends to a consumer that receives again). The first
        receive makes this end the consumer.

        Raises BrokenPipeError (EPIPE: it ended because a producer died without closing; everything it
        sent was received first), TimeoutError (ETIMEDOUT), OSError EPROTO (a damaged record), EBUSY
        (another live consumer), EINVAL (this end is a producer), EBADF (closed).

        >>> while (message := channel.receive(timeout=10)) is not None:
        ...     handle(message)
        """
        self._prepare_receive()
        if timeout is not None and timeout <= 0:
            return self.try_receive()
        result = self._wait(False, timeout, None)
        return None if result is _END else result

    def try_receive(self) -> Optional[bytes]:
        """The next message if one is there now; None at the end of the channel. Never waits, so never
        checks for dead producers (a consumer that only polls must also make a blocking receive to see
        one). Raises BlockingIOError (EAGAIN) when no message is there now, and as :meth:`receive`.

        >>> try:
        ...     message = channel.try_receive()
        ... except BlockingIOError:
        ...     message = ...  # nothing yet
        """
        self._prepare_receive()
        result = self._wait(False, 0, None)
        if result is _AGAIN:
            raise _error(errno.EAGAIN, "no message in the channel now")
        return None if result is _END else result

    def __iter__(self) -> Iterator[bytes]:
        """The messages, each waited for, until the end of the channel.

        >>> for message in channel:
        ...     handle(message)
        """
        while True:
            message = self.receive()
            if message is None:
                return
            yield message

    def _prepare_receive(self) -> None:
        self._check_open()
        if self._role != "consumer":
            self.claim("consumer")

    def _receive_attempt(self):
        """One receive: bytes, _END, _AGAIN; raises EPIPE (ended by a death) and EPROTO."""
        base = self._base
        memory = self._memory
        first = _word.unpack_from(memory, O_HEAD)[0]  # this side's own index
        if first == self._known_tail:
            self._known_tail = _load(base + O_TAIL)
            if first == self._known_tail:
                return self._ended()
        tail = self._known_tail
        head = first
        position = head & self._mask
        size = _word.unpack_from(memory, HEADER_BYTES + position)[0]
        if size == WRAP:
            head = (head + self._capacity - position) & U32
            position = 0
            size = _word.unpack_from(memory, HEADER_BYTES)[0]
        after = (head + 4 + ((size + 3) & ~3)) & U32
        # A producer wrote the length: one outside what it may send, or a record running past what it
        # published, would have the consumer hand out stale bytes and lose its place in the ring.
        if size >= 0x80000000 or size > self._max_message_size or (after - first) & U32 > (tail - first) & U32:
            raise _error(errno.EPROTO, f"a damaged record in the ring (length {size} at index {head})")
        start = HEADER_BYTES + position + 4
        message = memory[start : start + size]
        self._move(O_CONSUMER_CPU, O_HEAD, after, O_PRODUCER_WAITING, INT_MAX if self._multiple_producers else 1)
        return message

    def _ended(self):
        """With the ring empty: _END (every producer closed), _AGAIN, or raises EPIPE (a producer died).
        Read in the order of docs/channel.md ("End"): state, producerMask, tail again."""
        base = self._base
        state = _load(base + O_STATE)
        if not state & PRODUCER_ATTACHED:
            return _AGAIN
        if _load(base + O_PRODUCER_MASK) != 0:
            return _AGAIN
        if _load(base + O_TAIL) != _word.unpack_from(self._memory, O_HEAD)[0]:
            return _AGAIN
        # Read again: a producer that resumed may have cleared the mark since (only a death sets it).
        if _load(base + O_STATE) & PRODUCER_DIED:
            raise _error(errno.EPIPE, "a producer died without closing the channel (everything it sent was received)")
        return _END

    # ---- Waiting (docs/channel.md, "Waiting", "Peer death") ----

    def _reap(self) -> None:
        """The consumer's check, after a quiet wait, for producers that died without closing. It first
        takes the dead one's slot (compare and swap from the dead id to its own thread id), so that it and
        a producer taking the slot over never both act on the dead one; having won it, it sets
        PRODUCER_DIED if the bit is still set (clear: a close killed before it freed its slot), clears the
        bit, and frees the slot (compare and swap from its own id to 0). As unipc_channel_reap_."""
        base = self._base
        me = threading.get_native_id()
        mask = _load(base + O_PRODUCER_MASK)
        for slot in range(MAX_PRODUCERS):
            bit = 1 << slot
            if not mask & bit:
                continue
            word = base + O_PRODUCER_SLOTS + 4 * slot
            tid = _load(word)
            if tid == 0 or not _thread_gone(tid):
                continue
            if not _cas(word, tid, me):
                continue  # a producer took the slot over first: it records the death
            if _load(base + O_PRODUCER_MASK) & bit:
                _fetch_or(base + O_STATE, PRODUCER_DIED)
            _fetch_and(base + O_PRODUCER_MASK, ~bit)
            _cas(word, me, 0)

    def _check_peer(self, producer: bool) -> None:
        """After a quiet wait: a producer fails with EPIPE when the consumer's thread is gone (a consumer of
        0, nobody yet, is not checked); the consumer reaps dead producers."""
        if not producer:
            self._reap()
            return
        base = self._base
        if _load(base + O_STATE) & CONSUMER_CLOSED:
            return
        tid = _load(base + O_CONSUMER)
        if tid != 0 and _thread_gone(tid):
            raise _error(errno.EPIPE, f"the consumer (thread {tid}) died without closing the channel")

    def _spin(self, producer: bool):
        """Spins while the other side's index holds the value that made this side wait (a producer: the
        head its full ring showed; the consumer: its own head). The value to sleep on, or None when the
        index moved. Records this thread's CPU first, and does not spin when the peer last waited on the
        same CPU (it could not run meanwhile)."""
        base = self._base
        memory = self._memory
        index = base + (O_HEAD if producer else O_TAIL)
        own = O_PRODUCER_CPU if producer else O_CONSUMER_CPU
        peer = O_CONSUMER_CPU if producer else O_PRODUCER_CPU
        waiting_for = self._full_at if producer else _word.unpack_from(memory, O_HEAD)[0]
        here = _cpu()
        _thread.cpu = here
        if _word.unpack_from(memory, own)[0] != here & U32:
            _word.pack_into(memory, own, here & U32)
        if self.spin <= 0 or (here >= 0 and _word.unpack_from(memory, peer)[0] == here):
            return waiting_for if _load(index) == waiting_for else None
        for _ in range(self.spin):
            if _load(index) != waiting_for:
                return None
        return waiting_for

    def _moved(self, producer: bool, value: int) -> bool:
        """Whether, after announcing that it sleeps, this side has something to do after all."""
        if _load(self._base + (O_HEAD if producer else O_TAIL)) != value:
            return True
        return not producer and self._ended() is not _AGAIN

    def _wait(self, producer: bool, timeout: Optional[float], data: Optional[BytesLike]):
        """The waiting protocol around one side's attempts, as unipc_channel_wait_ of
        include/unipc/channel.h: attempt (a producer of a multi-producer channel under the producers'
        lock, released again after a failed attempt); while that cannot proceed, spin, add 1 to this side's
        waiting count, read the other side's end word, look once more, sleep on the index and the end word
        for at most 100 ms, subtract 1. After a sleep that timed out, and one more failed attempt, check
        the peer. `timeout` None waits for good, 0 makes one attempt (_AGAIN if it cannot proceed)."""
        base = self._base
        one_try = timeout == 0
        deadline = None if timeout is None or one_try else _now_ns() + int(timeout * 1e9)
        lock = base + O_PRODUCER_LOCK if producer and self._multiple_producers else None
        index = base + (O_HEAD if producer else O_TAIL)
        ends = base + (O_STATE if producer else O_PRODUCER_MASK)
        waiting = base + (O_PRODUCER_WAITING if producer else O_CONSUMER_WAITING)
        quiet = False
        while True:
            if lock is not None:
                tid = self._tid
                if one_try:
                    r = _mutex_attempt(lock, tid, 0)
                else:
                    r = _mutex_timedlock(lock, tid, deadline, self.spin)
                if r == errno.EOWNERDEAD:
                    # The dead owner published nothing, or everything: the ring needs no repair.
                    _fetch_and(lock, ~OWNER_DIED)
                elif r == errno.EBUSY:
                    return _AGAIN
                elif r == errno.ETIMEDOUT:
                    raise _error(errno.ETIMEDOUT, "send() timed out waiting for the producers' lock")
                elif r != 0:
                    raise _error(r, f"the producers' lock: {os.strerror(r)}")
                try:
                    result = self._send_attempt(data)  # type: ignore[arg-type]
                finally:
                    _mutex_unlock(lock, tid)
            elif producer:
                result = self._send_attempt(data)  # type: ignore[arg-type]
            else:
                result = self._receive_attempt()
            if result is not _AGAIN or one_try:
                return result
            if quiet:
                self._check_peer(producer)
            value = self._spin(producer)
            if value is None:
                continue
            _atomic_fetch_add(waiting, 1, SEQ_CST)
            try:
                other = _load(ends)  # read before the last look
                if self._moved(producer, value):
                    continue
                slice_end = _now_ns() + SLICE_NS
                if deadline is not None:
                    if _now_ns() >= deadline:
                        raise _error(
                            errno.ETIMEDOUT,
                            "send() timed out: the ring stayed full" if producer
                            else "receive() timed out: no message came",
                        )
                    slice_end = min(slice_end, deadline)
                slept = _sleep(index, value, ends, other, slice_end)
            finally:
                _atomic_fetch_sub(waiting, 1, SEQ_CST)
            if slept not in (0, -errno.EAGAIN, -errno.ETIMEDOUT):
                raise _error(-slept, f"futex: {os.strerror(-slept)}")
            quiet = slept == -errno.ETIMEDOUT

    # ---- Closing ----

    def close(self) -> None:
        """Closes this end. A producer clears its bit and its slot and wakes the consumer, which drains
        what was sent and then, once no producer is left, sees the end. The consumer marks the channel
        closed for good and wakes every producer: their sends fail with EPIPE from then on. An end that
        claimed no role writes nothing. Unmaps the memory (and closes :attr:`fd`); twice is harmless.

        >>> channel.close()
        """
        if self._closed:
            return
        self._closed = True
        base = self._base
        if self._role == "producer":
            bit = 1 << self._slot
            _fetch_and(base + O_PRODUCER_MASK, ~bit)
            _cas(base + O_PRODUCER_SLOTS + 4 * self._slot, self._tid, 0)
            _futex_wake(base + O_TAIL, 1)
            _futex_wake(base + O_PRODUCER_MASK, 1)
        elif self._role == "consumer":
            _fetch_or(base + O_STATE, CONSUMER_CLOSED)
            _futex_wake(base + O_HEAD, INT_MAX)
            _futex_wake(base + O_STATE, INT_MAX)
        self._release_memory()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _release_memory(self) -> None:
        self._anchor = None
        self._base = 0
        self._memory.close()

    def _check_open(self) -> None:
        if self._closed:
            raise _error(errno.EBADF, "the channel end is closed")

    def __enter__(self) -> "Channel":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __del__(self) -> None:
        # An end dropped without close() leaves its role to the liveness checks; only the mapping goes.
        try:
            if not self._closed and getattr(self, "_memory", None) is not None and not self._memory.closed:
                self._anchor = None
                self._memory.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        where = self._name if self._name is not None else "memfd"
        state = "closed" if self._closed else (self._role or "unclaimed")
        return (f"<unipc.Channel {where} capacity={self._capacity} max_message_size={self._max_message_size}"
                f"{' multiple_producers' if self._multiple_producers else ''} {state}>")
