"""The shared-memory topic of unipc, for Python: the same bytes and the same protocol as src/topic.ts
(Node), so a Python program can subscribe to a topic whose publisher is a Node process, or publish to Node
subscribers. One publisher, up to 64 subscribers, each reading every message at its own pace. Layout and
protocol: docs/channel.md, "Topic", which this module follows word for word. Standard library only (mmap,
struct, os, ctypes) and libatomic.so.1, as unipc.channel (_shared.py); Linux; CPython 3.8 or later. See
docs/python.md.

    from unipc import Topic

    with Topic.from_fd(3) as topic:          # a memfd handed over as fd 3 (or Topic.open("/name"))
        for message in topic:                # bytes, until the publisher closes
            print(len(message))

An end (a Topic object) is used by one thread at a time, and its role is held by the thread that claimed
it (the first send or receive, or claim()): that thread's id is what the other ends check for liveness,
so it must live as long as the end does, and every end must be in one PID namespace.
"""

from __future__ import annotations

import errno
import mmap
import os
import platform
import struct
import threading
from typing import Iterator, Optional, Union

from ._shared import (
    DEFAULT_SPIN,
    INT_MAX,
    SLICE_NS,
    U32,
    _base_of,
    _cas,
    _cpu,
    _error,
    _exchange,
    _fetch_add,
    _fetch_and,
    _fetch_or,
    _fetch_sub,
    _futex_wake,
    _load,
    _map_fd,
    _now_ns,
    _open_shm,
    _shm_path,
    _sleep,
    _sleep_one,
    _store,
    _thread,
    _thread_gone,
    _word,
)

__all__ = ["Topic", "MAX_SUBSCRIBERS", "MAX_HISTORY"]

# ---- Layout (docs/channel.md, "Topic", "Layout") -------------------------------------------------------

MAGIC = 0x50544E55  # 'UNTP' in memory
VERSION = 1
MIN_CAPACITY = 4096
MAX_CAPACITY = 0x40000000
#: Subscribers a topic takes at once (one bit each in the two mask words).
MAX_SUBSCRIBERS = 64
#: The most messages a topic keeps for subscribers that join late.
MAX_HISTORY = 4096
SLOTS_OFFSET = 4096  # slot i: 64 bytes at 4096 + 64 * i (its thread id, its read index, its CPU hint)
SLOT_BYTES = 64
HISTORY_OFFSET = 8192  # the table of history + 2 record indices; also the least a topic's memory can be
PAGE = 4096
RECORD_HEADER = 8  # a record's length word, then its sequence number
WRAP = 0xFFFFFFFF  # a length word: the next record starts at offset 0

# Byte offsets of the header's words.
O_MAGIC = 0
O_VERSION = 4
O_CAPACITY = 8
O_MAX_MESSAGE_SIZE = 12
O_DATA_OFFSET = 16
O_FLAGS = 20
O_HISTORY = 24
O_TAIL = 64
O_OLDEST = 68
O_NEXT_SEQ = 72
O_PUBLISHER_CPU = 76  # the publisher's CPU hint: its CPU + 1, 0 not told (docs/channel.md, "CPU hints")
O_SUBSCRIBER_WAITING = 128
O_PUBLISHER_WAITING = 132
O_RELEASED = 136
O_PUBLISHER = 192
O_STATE = 196
O_MASK_LOW = 200
O_MASK_HIGH = 204

# flags (byte 20)
OVERWRITE = 1
# state (byte 196)
PUBLISHER_ATTACHED = 1
PUBLISHER_CLOSED = 2

#: Whether a subscriber reads `oldest` after a copy with a read-modify-write (an atomic add of 0) rather
#: than a load: on x86 loads are not reordered with earlier loads, so libatomic's load (a plain mov) keeps
#: the copy's reads before it; elsewhere (arm64: ldar does not order earlier plain loads) only an
#: operation that also writes does.
_CHECK_BY_RMW = platform.machine() not in ("x86_64", "amd64", "i386", "i686")

_AGAIN = object()  # an attempt that cannot proceed now
_END = object()  # the publisher closed and everything it sent is received

_record = struct.Struct("=II")  # a record's length word and sequence number

BytesLike = Union[bytes, bytearray, memoryview]


def _signed(value: int) -> int:
    """A 32-bit difference as a signed number: which of two indices (or sequence numbers) is ahead."""
    value &= U32
    return value - 0x100000000 if value & 0x80000000 else value


def _is_capacity(capacity: int) -> bool:
    return MIN_CAPACITY <= capacity <= MAX_CAPACITY and capacity & (capacity - 1) == 0


def _longest(capacity: int) -> int:
    """The longest message a ring of `capacity` bytes takes: its record and a skip before it fit."""
    return capacity // 2 - 12


def _entries(history: int) -> int:
    """Entries of the table: the last history + 2 records' indices, at their sequence numbers mod
    history + 2 (two more than history, so that a joiner and a successor publisher can tell what the
    record at the tail is numbered, and an entry is not reused under a joiner that reads it)."""
    return history + 2


def _data_offset(history: int) -> int:
    """Where the ring starts: after the control page, the slots and the table (whole pages): 8192 +
    4 * (history + 2) rounded up to a multiple of 4096."""
    return HISTORY_OFFSET + (_entries(history) * 4 + PAGE - 1) // PAGE * PAGE


def _number_at(tail: int, next_seq: int, entry: int) -> int:
    """The sequence number of the record at `tail` (published or not), given nextSeq and the table entry
    of record nextSeq - 1, all read while tail held still (or by a publisher taking over): the publisher
    files a record, stores nextSeq, then tail, so nextSeq is its number unless record nextSeq - 1 is filed
    at `tail` (written, its tail not yet stored). A fresh topic has no record -1 (docs/channel.md,
    "Joining" and "Roles")."""
    if next_seq == 0 and tail == 0:
        return 0
    return (next_seq - 1) & U32 if entry == tail else next_seq


def _pad4(size: int) -> int:
    return (size + 3) & ~3


def _thread_cpu() -> int:
    """What this thread tells as it publishes or moves its position: the CPU it last started waiting on,
    + 1 (0: it never waited)."""
    return _thread.cpu + 1 if _thread.cpu >= 0 else 0


def _tell_cpu(memory, offset: int, cpu: int) -> None:
    """Stores a CPU hint (the CPU + 1) at byte `offset`, only when it changes: the word shares its cache
    line with words the other side reads. No ordering is needed: a stale hint costs a spin, nothing else."""
    if _word.unpack_from(memory, offset)[0] != cpu:
        _word.pack_into(memory, offset, cpu)


class Topic:
    """One end of a unipc topic: one publisher writes messages into a ring in shared memory and each of up
    to 64 subscribers reads every message sent after it joined (and, with the topic's ``history``, the
    last few sent before), at a position of its own; the other ends are Node processes (src/topic.ts) or
    other Python ones.

    Get one with :meth:`open` (POSIX shared memory by name), :meth:`from_fd` (a memfd handed over as a
    descriptor) or :meth:`create`. The first :meth:`receive` makes the end a subscriber, the first
    :meth:`send` the publisher. Messages are copied in and out (``bytes``); blocking calls wait with the
    topic's futex protocol and check every 100 ms of quiet that the other side still lives.

    Errors are :class:`OSError` with ``errno`` set: ``BrokenPipeError`` (EPIPE: the publisher died without
    closing, or a publisher attaching to a topic closed for good), ``TimeoutError`` (ETIMEDOUT),
    ``BlockingIOError`` (EAGAIN), and ``OSError`` with EMSGSIZE, EPROTO, EBUSY, EINVAL, EBADF.

    >>> with Topic.open("/prices") as prices:        # made by Node: Topic.create({ name: '/prices' })
    ...     for tick in prices:
    ...         print(tick)
    """

    def __init__(self, memory: mmap.mmap, *, name: Optional[str] = None, fd: int = -1,
                 spin: Optional[int] = None) -> None:
        """Use :meth:`open`, :meth:`from_fd` or :meth:`create`. Checks the header (EPROTO) before
        anything is written; takes ownership of `memory` (and of `fd`, closed by :meth:`close`)."""
        length = len(memory)
        if length < HISTORY_OFFSET:
            raise _error(errno.EPROTO, f"not a unipc topic ({length} bytes, less than its header)")
        self._memory = memory
        self._anchor, base = _base_of(memory)  # the anchor pins the mapping while addresses are in use
        self._base = base
        if _load(base + O_MAGIC) != MAGIC:
            self._release_memory()
            raise _error(errno.EPROTO, "not a unipc topic (no magic number at its start)")
        version, capacity, longest, data_offset, flags, history = struct.unpack_from("=6I", memory, O_VERSION)
        problem = None
        if version != VERSION:
            problem = f"a topic of layout version {version}; this module speaks version {VERSION}"
        elif (
            not _is_capacity(capacity)
            or not 1 <= longest <= _longest(capacity)
            or history > MAX_HISTORY
            or data_offset != _data_offset(history)
        ):
            problem = (f"a damaged topic header (capacity {capacity}, maxMessageSize {longest}, history "
                       f"{history}, data offset {data_offset})")
        elif length < data_offset + capacity:
            problem = f"the topic's memory is shorter than its capacity ({capacity})"
        if problem is not None:
            self._release_memory()
            raise _error(errno.EPROTO, problem)
        self._capacity = capacity
        self._mask = capacity - 1
        self._max_message_size = longest
        self._history = history
        self._entries = _entries(history)
        self._overwrite = bool(flags & OVERWRITE)  # undefined bits are ignored
        self._data = data_offset  # byte offset of the ring in the mapping
        self._name = name
        self._fd = fd
        self.spin = DEFAULT_SPIN if spin is None else spin
        self._role: Optional[str] = None
        self._tid = 0
        self._closed = False
        # A subscriber's slot, read index, the tail it last read, the sequence number it expects next.
        self._slot = -1
        self._position = 0
        self._known_tail = 0
        self._expected = 0
        self._missed = 0
        # Joined with history and read nothing yet: the first record read must be the one the table named.
        self._joined = False
        # The publisher's own copies of tail, oldest and the next sequence number (it is their only
        # writer); the lowest subscriber position it last found ('block'), the subscriber masks when it
        # found it (a joiner may start below it), and the `released` it read then.
        self._tail = 0
        self._oldest = 0
        self._seq = 0
        self._known_lowest = 0
        self._known_mask_low = 0
        self._known_mask_high = 0
        self._released_at = 0

    # ---- Making and opening ----

    @classmethod
    def open(cls, name: str, *, spin: Optional[int] = None) -> "Topic":
        """The topic another process made under POSIX shared memory name `name` ('/name'; the file
        /dev/shm/name), e.g. Node's ``Topic.create({ name: '/name' })``.

        Raises FileNotFoundError (ENOENT), PermissionError (EACCES), OSError EPROTO (not a unipc topic,
        one of another layout version, or a damaged header).

        >>> topic = Topic.open("/prices")
        """
        fd = _open_shm(name)
        try:
            return cls._map(fd, name=name if name.startswith("/") else "/" + name, spin=spin)
        finally:
            os.close(fd)

    @classmethod
    def from_fd(cls, fd: int, *, spin: Optional[int] = None) -> "Topic":
        """The topic behind descriptor `fd`: a memfd handed over (Node: ``spawn(..., { fds: [topic.fd] })``
        makes it fd 3), or a POSIX shared memory object's. The descriptor stays the caller's: it may be
        closed at once.

        Raises OSError EBADF, EACCES (a read-only descriptor), EPROTO (not a unipc topic).

        >>> topic = Topic.from_fd(3)
        """
        return cls._map(fd, spin=spin)

    @classmethod
    def _map(cls, fd: int, *, name: Optional[str] = None, spin: Optional[int] = None) -> "Topic":
        memory = _map_fd(fd, HISTORY_OFFSET, "topic")
        try:
            return cls(memory, name=name, spin=spin)
        except BaseException:
            if not memory.closed:
                memory.close()
            raise

    @classmethod
    def create(cls, name: Optional[str] = None, *, capacity: int = 1 << 20,
               max_message_size: Optional[int] = None, policy: str = "block", history: int = 0,
               spin: Optional[int] = None) -> "Topic":
        """Makes a topic, as Node's ``Topic.create()`` does: in a memfd (``name`` None; hand :attr:`fd`
        to another process), or in POSIX shared memory under ``name`` (created exclusively, mode 0600; it
        stays until :meth:`unlink`). ``capacity`` is a power of two from 4096 to 2**30;
        ``max_message_size`` is at most capacity / 2 - 12 (default capacity / 4); ``policy`` 'block' (the
        publisher waits for the slowest subscriber) or 'overwrite' (it never waits; lapped subscribers
        lose the oldest messages and count them); ``history`` (0 to 4096) how many of the latest
        messages a joining subscriber gets first.

        Raises FileExistsError (EEXIST: the name is taken), ValueError for bad arguments.

        >>> topic = Topic.create("/prices", capacity=1 << 16, policy="overwrite", history=16)
        """
        if not isinstance(capacity, int) or not _is_capacity(capacity):
            raise ValueError(f"capacity must be a power of two from {MIN_CAPACITY} to {MAX_CAPACITY}: {capacity!r}")
        longest = capacity // 4 if max_message_size is None else max_message_size
        if not isinstance(longest, int) or not 1 <= longest <= _longest(capacity):
            raise ValueError(f"max_message_size must be from 1 to {_longest(capacity)}: {longest!r}")
        if policy not in ("block", "overwrite"):
            raise ValueError(f"policy must be 'block' or 'overwrite': {policy!r}")
        if not isinstance(history, int) or not 0 <= history <= MAX_HISTORY:
            raise ValueError(f"history must be from 0 to {MAX_HISTORY}: {history!r}")
        data_offset = _data_offset(history)
        size = data_offset + capacity
        path = None
        if name is None:
            fd = os.memfd_create("unipc-topic", os.MFD_CLOEXEC)
        else:
            path = _shm_path(name)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            os.ftruncate(fd, size)
            memory = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            anchor, base = _base_of(memory)
            struct.pack_into("=6I", memory, O_VERSION, VERSION, capacity, longest, data_offset,
                             OVERWRITE if policy == "overwrite" else 0, history)
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
    def policy(self) -> str:
        """'block' (the publisher waits for the slowest subscriber) or 'overwrite'."""
        return "overwrite" if self._overwrite else "block"

    @property
    def history(self) -> int:
        """How many of the latest messages a joining subscriber gets first."""
        return self._history

    @property
    def name(self) -> Optional[str]:
        """The POSIX shared memory name ('/name'), or None for a memfd."""
        return self._name

    @property
    def fd(self) -> int:
        """The memfd of a topic :meth:`create` made without a name (to hand to another process), else -1."""
        return self._fd

    @property
    def role(self) -> Optional[str]:
        """'publisher', 'subscriber', or None until the first send or receive (or :meth:`claim`)."""
        return self._role

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def subscribers(self) -> int:
        """How many subscribers are attached now (a moment's count: they come and go)."""
        self._check_open()
        base = self._base
        return bin(_load(base + O_MASK_LOW)).count("1") + bin(_load(base + O_MASK_HIGH)).count("1")

    @property
    def missed(self) -> int:
        """How many messages this subscriber lost in all, lapped by an 'overwrite' publisher (or, joining
        with history, overwritten before it could read them). Messages are lost whole and counted, never
        handed out torn."""
        return self._missed

    # ---- Roles ----

    def claim(self, role: str) -> None:
        """Makes this end the topic's 'subscriber' or its 'publisher' now, rather than at the first receive
        or send: a subscriber joins here (it gets the messages sent from now on). The calling thread holds
        the role.

        Raises OSError EBUSY (64 subscribers already; a live publisher exists), BrokenPipeError (EPIPE: a
        publisher for a topic its publisher closed), EINVAL (this end has the other role), EBADF (closed).
        """
        self._check_open()
        if role not in ("publisher", "subscriber"):
            raise ValueError(f"role must be 'publisher' or 'subscriber': {role!r}")
        if self._role == role:
            return
        if self._role is not None:
            raise _error(errno.EINVAL, f"this end is the topic's {self._role}, not its {role}")
        if role == "publisher":
            self._attach_publisher()
        else:
            self._attach_subscriber()
        self._role = role

    def _attach_subscriber(self) -> None:
        """A free slot (compare and swap 0 -> this thread's id), else the slot of a thread that is gone;
        then the start, stored into the slot before its mask bit is set, so that the publisher never
        counts a position this subscriber did not write."""
        base = self._base
        tid = threading.get_native_id()
        for take_over in (False, True):
            for slot in range(MAX_SUBSCRIBERS):
                word = base + SLOTS_OFFSET + SLOT_BYTES * slot
                current = _load(word)
                if (current == 0 or not _thread_gone(current)) if take_over else current != 0:
                    continue
                if not _cas(word, current, tid):
                    continue
                self._start()
                _store(word + 4, self._position)
                _fetch_or(base + (O_MASK_LOW if slot < 32 else O_MASK_HIGH), 1 << (slot & 31))
                self._slot = slot
                self._tid = tid
                return
        raise _error(errno.EBUSY, f"the topic has {MAX_SUBSCRIBERS} subscribers already")

    def _entry(self, seq: int) -> int:
        """The table entry of record `seq`: the index it was written at (if it is still that record's)."""
        return _load(self._base + HISTORY_OFFSET + 4 * ((seq & U32) % self._entries))

    def _start(self) -> None:
        """Where a joining subscriber starts, and the number it expects there (docs/channel.md, "Joining"):
        with history h and something sent, the record f = nextSeq - min(h, nextSeq) from the table, read
        again should nextSeq have reached f + h + 2 meanwhile (the entry may then be a newer record's);
        else the tail, read with nextSeq and the table entry of record nextSeq - 1 between two reads of
        the tail that agree. As unipc_topic_start_ of include/unipc/topic.h and #start of src/topic.ts."""
        base = self._base
        while True:
            next_seq = _load(base + O_NEXT_SEQ)
            back = min(self._history, next_seq)
            if back == 0:
                break
            first = (next_seq - back) & U32
            start = self._entry(first)
            # The entry is first's until the publisher numbers record first + h + 2, which it can only
            # have begun if nextSeq has reached that since.
            if (_load(base + O_NEXT_SEQ) - first) & U32 >= self._entries:
                continue
            self._position = start
            self._expected = first
            self._known_tail = start
            self._joined = True
            return
        while True:
            tail = _load(base + O_TAIL)
            next_seq = _load(base + O_NEXT_SEQ)
            entry = self._entry(next_seq - 1)
            if _load(base + O_TAIL) == tail:
                break
        # Not the number in the ring at `tail`: stale bytes there can equal it.
        self._position = tail
        self._expected = _number_at(tail, next_seq, entry)
        self._known_tail = tail

    def _attach_publisher(self) -> None:
        """Compare and swap `publisher` from 0 or from a thread that is gone, then bit 0 of `state`; a new
        publisher goes on from tail, oldest and nextSeq as they are."""
        base = self._base
        if _load(base + O_STATE) & PUBLISHER_CLOSED:
            raise _error(errno.EPIPE, "the topic was closed by its publisher")
        tid = threading.get_native_id()
        current = _load(base + O_PUBLISHER)
        if (current != 0 and not _thread_gone(current)) or not _cas(base + O_PUBLISHER, current, tid):
            holder = current or _load(base + O_PUBLISHER)
            raise _error(errno.EBUSY, f"the topic has a publisher already (thread {holder}): one per topic")
        _fetch_or(base + O_STATE, PUBLISHER_ATTACHED)
        # A close that came between the first look and the swap cleared `publisher`, which let this one in.
        if _load(base + O_STATE) & PUBLISHER_CLOSED:
            _cas(base + O_PUBLISHER, tid, 0)
            raise _error(errno.EPIPE, "the topic was closed by its publisher")
        self._tid = tid
        self._tail = _load(base + O_TAIL)
        self._oldest = _load(base + O_OLDEST)
        # A publisher that died between its stores of nextSeq and tail numbered a record nobody can see:
        # the first record is numbered as a joiner would expect the record at the tail.
        next_seq = _load(base + O_NEXT_SEQ)
        self._seq = _number_at(self._tail, next_seq, self._entry(next_seq - 1))
        # The subscribers' lowest position, looked up now: one that has yet to read what a dead
        # predecessor sent must hold this publisher back too.
        self._known_lowest = (self._tail - self._lowest_behind(self._tail)) & U32

    # ---- Receiving ----

    def receive(self, timeout: Optional[float] = None) -> Optional[bytes]:
        """The next message (a copy), waiting for one: for good (``timeout`` None) or at most ``timeout``
        seconds. None once the publisher has closed and everything it sent is received (the end). The
        first receive makes this end a subscriber: it gets the messages sent from then on (and, with the
        topic's history, the last few sent before).

        Raises BrokenPipeError (EPIPE: the publisher died without closing, and everything it sent was
        received; not stored: a publisher that takes over goes on), TimeoutError (ETIMEDOUT), OSError
        EPROTO (a damaged record), EBUSY (64 subscribers already), EINVAL (this end is the publisher),
        EBADF (closed).

        >>> while (message := topic.receive(timeout=10)) is not None:
        ...     handle(message)
        """
        self._prepare_receive()
        if timeout is not None and timeout <= 0:
            return self.try_receive()
        result = self._wait_receive(timeout)
        return None if result is _END else result

    def try_receive(self) -> Optional[bytes]:
        """The next message if one is there now; None at the end of the topic. Never waits, so never
        checks the publisher's life. Raises BlockingIOError (EAGAIN) when no message is there now, and as
        :meth:`receive`.

        >>> try:
        ...     message = topic.try_receive()
        ... except BlockingIOError:
        ...     message = ...  # nothing yet
        """
        self._prepare_receive()
        result = self._receive_attempt()
        if result is _AGAIN:
            raise _error(errno.EAGAIN, "no message in the topic now")
        return None if result is _END else result

    def __iter__(self) -> Iterator[bytes]:
        """The messages, each waited for, until the publisher closes.

        >>> for message in topic:
        ...     handle(message)
        """
        while True:
            message = self.receive()
            if message is None:
                return
            yield message

    def _prepare_receive(self) -> None:
        self._check_open()
        if self._role != "subscriber":
            self.claim("subscriber")

    def _receive_attempt(self):
        """One receive (docs/channel.md, "Receiving"): bytes, _END or _AGAIN; raises EPROTO. The record is
        copied, and only then checked against `oldest`: one the publisher began to overwrite meanwhile is
        dropped, and the subscriber goes on from the oldest record left, counting what it lost by the
        sequence numbers."""
        base = self._base
        memory = self._memory
        data = self._data
        capacity = self._capacity
        while True:
            first = self._position
            if first == self._known_tail:
                self._known_tail = _load(base + O_TAIL)
                if first == self._known_tail:
                    return _END if self._ended() else _AGAIN
            tail = self._known_tail
            if (tail - first) & U32 > capacity:
                self._relocate()  # lapped
                continue
            start = first
            offset = start & self._mask
            size = _word.unpack_from(memory, data + offset)[0]
            if size == WRAP:
                start = (start + capacity - offset) & U32
                offset = 0
                size = _word.unpack_from(memory, data)[0]
            after = (start + RECORD_HEADER + _pad4(size)) & U32
            # Not trusted before the check of `oldest` below: a record being overwritten reads as anything.
            # A record runs past neither what was published nor the ring's end (the publisher never
            # writes one across it), so the copy stays within the ring.
            sound = (
                size <= self._max_message_size
                and offset + RECORD_HEADER + size <= capacity
                and (after - first) & U32 <= (tail - first) & U32
            )
            seq = _word.unpack_from(memory, data + offset + 4)[0] if sound else 0
            message = memory[data + offset + RECORD_HEADER : data + offset + RECORD_HEADER + size] if sound else None
            oldest = _fetch_add(base + O_OLDEST, 0) if _CHECK_BY_RMW else _load(base + O_OLDEST)
            if _signed(first - oldest) < 0:
                self._relocate()  # the publisher began to overwrite it: the copy may be torn
                continue
            if message is None:
                raise _error(errno.EPROTO, f"a damaged record in the ring (length {size} at index {start})")
            # A history start more than 2**32 bytes back can land anywhere, even on a record: the first
            # record read must be the one the table named.
            if self._joined and seq != self._expected:
                self._relocate()
                continue
            self._joined = False
            lost = _signed(seq - self._expected)
            if lost < 0:
                raise _error(errno.EPROTO, f"a damaged record in the ring (message {seq} after "
                                           f"{(self._expected - 1) & U32})")
            self._missed += lost
            self._expected = (seq + 1) & U32
            self._position = after
            slot = SLOTS_OFFSET + SLOT_BYTES * self._slot
            _tell_cpu(self._memory, slot + 8, _thread_cpu())
            _store(base + slot + 4, after)
            if not self._overwrite:
                self._release()
            return message

    def _relocate(self) -> None:
        """Lapped: on from the oldest record still whole; its sequence number will say how many were lost."""
        oldest = _load(self._base + O_OLDEST)
        self._position = oldest
        self._known_tail = oldest
        self._joined = False
        _store(self._base + SLOTS_OFFSET + SLOT_BYTES * self._slot + 4, oldest)
        if not self._overwrite:
            self._release()  # a publisher may be waiting for this position

    def _ended(self) -> bool:
        """With nothing to read: whether the publisher closed (bit 1 of state, then tail read again)."""
        base = self._base
        if not _load(base + O_STATE) & PUBLISHER_CLOSED:
            return False
        return _load(base + O_TAIL) == self._position

    def _release(self) -> None:
        """Room made: if the publisher says it sleeps, move `released` and wake it."""
        base = self._base
        if _load(base + O_PUBLISHER_WAITING) != 0:
            _fetch_add(base + O_RELEASED, 1)
            _futex_wake(base + O_RELEASED, 1)

    def _wait_receive(self, timeout: Optional[float]):
        """The subscriber's waiting (docs/channel.md, "Waiting"): attempt; while there is nothing, re-read
        `tail` `spin` times, add 1 to subscriberWaiting, read `state`, look once more (tail and the end),
        sleep on `tail` and `state` for at most 100 ms, subtract 1. After a sleep that timed out, and one
        more failed attempt, check that the publisher lives (EPIPE if not, and nothing is left)."""
        base = self._base
        tail_word = base + O_TAIL
        deadline = None if timeout is None else _now_ns() + int(timeout * 1e9)
        quiet = False
        while True:
            result = self._receive_attempt()
            if result is not _AGAIN:
                return result
            if quiet:
                self._check_publisher()
            position = self._position
            moved = False
            for _ in range(self._spin_limit(False)):
                if _load(tail_word) != position:
                    moved = True
                    break
            if moved:
                continue
            _fetch_add(base + O_SUBSCRIBER_WAITING, 1)
            try:
                state = _load(base + O_STATE)  # read before the last look
                if _load(tail_word) != position or self._ended():
                    continue
                slice_end = _now_ns() + SLICE_NS
                if deadline is not None:
                    if _now_ns() >= deadline:
                        raise _error(errno.ETIMEDOUT, "receive() timed out: no message came")
                    slice_end = min(slice_end, deadline)
                slept = _sleep(tail_word, position, base + O_STATE, state, slice_end)
            finally:
                _fetch_sub(base + O_SUBSCRIBER_WAITING, 1)
            if slept not in (0, -errno.EAGAIN, -errno.ETIMEDOUT):
                raise _error(-slept, f"futex: {os.strerror(-slept)}")
            quiet = slept == -errno.ETIMEDOUT

    def _spin_limit(self, publisher: bool) -> int:
        """Tells this thread's CPU (+ 1) in its hint word, and how many times to look before sleeping: the
        spin (at least once), or once when the peer (for a subscriber the publisher, for the publisher any
        attached subscriber) last told this CPU, since it could not move meanwhile."""
        here = _cpu()
        _thread.cpu = here
        cpu = here + 1 if here >= 0 else 0
        if publisher:
            _tell_cpu(self._memory, O_PUBLISHER_CPU, cpu)
        elif self._slot >= 0:
            _tell_cpu(self._memory, SLOTS_OFFSET + SLOT_BYTES * self._slot + 8, cpu)
        if cpu != 0 and self._peer_here(publisher, cpu):
            return 1
        return max(1, self.spin)

    def _peer_here(self, publisher: bool, cpu: int) -> bool:
        memory = self._memory
        if not publisher:
            return _word.unpack_from(memory, O_PUBLISHER_CPU)[0] == cpu
        base = self._base
        for half in (0, 1):
            mask = _load(base + (O_MASK_LOW if half == 0 else O_MASK_HIGH))
            while mask:
                bit = (mask & -mask).bit_length() - 1
                mask &= mask - 1
                if _word.unpack_from(memory, SLOTS_OFFSET + SLOT_BYTES * (half * 32 + bit) + 8)[0] == cpu:
                    return True
        return False

    def _check_publisher(self) -> None:
        """After a quiet wait with nothing to read: EPIPE if the publisher's thread is gone."""
        base = self._base
        tid = _load(base + O_PUBLISHER)
        if tid != 0 and _thread_gone(tid) and _load(base + O_TAIL) == self._position:
            raise _error(errno.EPIPE, f"the publisher (thread {tid}) died without closing the topic "
                                      "(everything it sent was received)")

    # ---- Publishing ----

    def send(self, data: BytesLike, timeout: Optional[float] = None) -> None:
        """Sends `data` as one message (it may be empty) to every subscriber attached, waiting while the
        slowest has yet to make room ('block'; 'overwrite' never waits): for good (``timeout`` None) or at
        most ``timeout`` seconds. A subscriber that died stops holding it back after about 100 ms. The
        first send makes this end the publisher.

        Raises TimeoutError (ETIMEDOUT), BrokenPipeError (EPIPE: the topic's publisher closed it), OSError
        EMSGSIZE (longer than max_message_size), EBUSY (a live publisher exists), EINVAL (this end is a
        subscriber), EBADF (closed).

        >>> topic.send(b"EURUSD 1.0842")
        """
        data = self._prepare_send(data)
        if timeout is not None and timeout <= 0:
            if self._send_attempt(data) is _AGAIN:
                raise _error(errno.EAGAIN, "no room: the slowest subscriber has yet to read")
            return
        self._wait_send(data, timeout)

    def try_send(self, data: BytesLike) -> bool:
        """Sends `data` if there is room now ('overwrite': always): True, or False. Never waits, so never
        checks the subscribers' lives. Raises as :meth:`send` (not ETIMEDOUT)."""
        data = self._prepare_send(data)
        return self._send_attempt(data) is not _AGAIN

    def _prepare_send(self, data: BytesLike) -> BytesLike:
        self._check_open()
        if not isinstance(data, (bytes, bytearray)):
            data = memoryview(data).cast("B")  # any buffer, counted in bytes
        if len(data) > self._max_message_size:
            raise _error(errno.EMSGSIZE,
                         f"the message is {len(data)} bytes, more than the topic's {self._max_message_size}")
        if self._role != "publisher":
            self.claim("publisher")
        return data

    def _lowest_behind(self, tail: int) -> int:
        """How far the lowest attached subscriber's position is behind `tail` (0 with none); one more than
        `capacity` behind is ignored (lapped while it joined: it notices)."""
        base = self._base
        capacity = self._capacity
        behind = 0
        for half in (0, 1):
            mask = _load(base + (O_MASK_LOW if half == 0 else O_MASK_HIGH))
            while mask:
                bit = (mask & -mask).bit_length() - 1
                mask &= mask - 1
                position = _load(base + SLOTS_OFFSET + SLOT_BYTES * (half * 32 + bit) + 4)
                distance = (tail - position) & U32
                if behind < distance <= capacity:
                    behind = distance
        return behind

    def _send_attempt(self, data: BytesLike):
        """One publish (docs/channel.md, "Publishing"): None (sent) or _AGAIN (no room: 'block' only)."""
        base = self._base
        memory = self._memory
        ring = self._data
        capacity = self._capacity
        mask = self._mask
        tail = self._tail
        size = len(data)
        need = RECORD_HEADER + _pad4(size)
        position = tail & mask
        skip = capacity - position if position + need > capacity else 0
        end = (tail + skip + need) & U32
        # 1. Room ('block'): looked up again only when the lowest position found last leaves too little, or
        # when the subscribers changed since it was found (a joiner may start below it).
        if not self._overwrite:
            low = _load(base + O_MASK_LOW)
            high = _load(base + O_MASK_HIGH)
            if low != self._known_mask_low or high != self._known_mask_high:
                self._known_mask_low = low
                self._known_mask_high = high
                self._known_lowest = (tail - self._lowest_behind(tail)) & U32
        if not self._overwrite and (end - self._known_lowest) & U32 > capacity:
            self._released_at = _load(base + O_RELEASED)
            lowest = (tail - self._lowest_behind(tail)) & U32
            self._known_lowest = lowest
            if (end - lowest) & U32 > capacity:
                return _AGAIN
        # 2. Oldest: past the records about to be overwritten, stored before any byte of this one.
        oldest = self._oldest
        limit = (end - capacity) & U32
        if _signed(limit - oldest) > 0:
            while True:
                length = _word.unpack_from(memory, ring + (oldest & mask))[0]
                if length == WRAP:
                    oldest = (oldest + capacity - (oldest & mask)) & U32
                elif length <= self._max_message_size:
                    oldest = (oldest + RECORD_HEADER + _pad4(length)) & U32
                else:
                    raise _error(errno.EPROTO, f"a damaged record in the ring (length {length} at index {oldest})")
                if _signed(limit - oldest) <= 0:
                    break
            self._oldest = oldest
            _exchange(base + O_OLDEST, oldest)  # a read-modify-write: the bytes written next come after it
        # 3. Write (the CPU hint first: nothing comes between the stores of nextSeq and tail, a line
        # subscribers spin on).
        _tell_cpu(memory, O_PUBLISHER_CPU, _thread_cpu())
        if skip > 0:
            _word.pack_into(memory, ring + position, WRAP)
            position = 0
        seq = self._seq
        start = ring + position
        _record.pack_into(memory, start, size, seq)
        if size > 0:
            memory[start + RECORD_HEADER : start + RECORD_HEADER + size] = data
        # Always, even without history: joiners and a successor publisher number the record at the tail by it.
        _store(base + HISTORY_OFFSET + 4 * (seq % self._entries), tail)
        # 4. Publish: nextSeq, then tail; wake the subscribers that said they sleep.
        self._seq = (seq + 1) & U32
        _store(base + O_NEXT_SEQ, self._seq)
        self._tail = end
        _store(base + O_TAIL, end)
        if _load(base + O_SUBSCRIBER_WAITING) != 0:
            _futex_wake(base + O_TAIL, INT_MAX)
        return None

    def _wait_send(self, data: BytesLike, timeout: Optional[float]) -> None:
        """The publisher's waiting ('block'): attempt; while there is no room, re-read the positions
        spin / 16 times, add 1 to publisherWaiting, read the positions and `released` again, sleep on
        `released` (with the value noted before the last look for room) for at most 100 ms, subtract 1.
        After a sleep that timed out, and one more failed attempt, let dead subscribers go."""
        base = self._base
        released = base + O_RELEASED
        deadline = None if timeout is None else _now_ns() + int(timeout * 1e9)
        quiet = False
        while True:
            if self._send_attempt(data) is not _AGAIN:
                return
            if quiet:
                self._reap_subscribers()
            tail = self._tail
            value = self._released_at
            moved = False
            for _ in range(max(1, self._spin_limit(True) >> 4)):
                if (tail - self._lowest_behind(tail)) & U32 != self._known_lowest:
                    moved = True
                    break
            if moved:
                continue
            _fetch_add(base + O_PUBLISHER_WAITING, 1)
            try:
                if (tail - self._lowest_behind(tail)) & U32 != self._known_lowest or _load(released) != value:
                    continue
                slice_end = _now_ns() + SLICE_NS
                if deadline is not None:
                    if _now_ns() >= deadline:
                        raise _error(errno.ETIMEDOUT, "send() timed out: the slowest subscriber made no room")
                    slice_end = min(slice_end, deadline)
                slept = _sleep_one(released, value, slice_end)
            finally:
                _fetch_sub(base + O_PUBLISHER_WAITING, 1)
            if slept not in (0, -errno.EAGAIN, -errno.ETIMEDOUT):
                raise _error(-slept, f"futex: {os.strerror(-slept)}")
            quiet = slept == -errno.ETIMEDOUT

    def _reap_subscribers(self) -> None:
        """The publisher's check after a quiet wait: subscribers whose threads are gone are let go."""
        base = self._base
        for slot in range(MAX_SUBSCRIBERS):
            if not _load(base + (O_MASK_LOW if slot < 32 else O_MASK_HIGH)) & (1 << (slot & 31)):
                continue
            tid = _load(base + SLOTS_OFFSET + SLOT_BYTES * slot)
            if tid != 0 and _thread_gone(tid):
                self._leave(slot, tid)

    def _leave(self, slot: int, tid: int) -> bool:
        """Frees a subscriber's slot: its mask bit first (the publisher stops counting its position), then
        the slot (compare and swap from `tid`; the bit goes back if a live subscriber took the slot over
        meanwhile); then the publisher, if it waits, looks again."""
        base = self._base
        bit = 1 << (slot & 31)
        mask = base + (O_MASK_LOW if slot < 32 else O_MASK_HIGH)
        _fetch_and(mask, ~bit)
        freed = _cas(base + SLOTS_OFFSET + SLOT_BYTES * slot, tid, 0)
        if not freed:
            _fetch_or(mask, bit)
        self._release()
        return freed

    # ---- Closing ----

    def close(self) -> None:
        """Closes this end. A subscriber's close frees its slot (and stops holding the publisher back).
        The publisher's close ends the topic for good: subscribers receive what was sent, then None, and no
        publisher may attach again. An end that claimed no role writes nothing. Unmaps the memory (and
        closes :attr:`fd`); twice is harmless.

        >>> topic.close()
        """
        if self._closed:
            return
        self._closed = True
        base = self._base
        if self._role == "publisher":
            _fetch_or(base + O_STATE, PUBLISHER_CLOSED)
            _cas(base + O_PUBLISHER, self._tid, 0)
            _futex_wake(base + O_TAIL, INT_MAX)
            _futex_wake(base + O_STATE, INT_MAX)
        elif self._role == "subscriber":
            self._leave(self._slot, self._tid)
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
            raise _error(errno.EBADF, "the topic end is closed")

    def __enter__(self) -> "Topic":
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
        return (f"<unipc.Topic {where} capacity={self._capacity} max_message_size={self._max_message_size} "
                f"policy={self.policy} history={self._history} {state}>")
