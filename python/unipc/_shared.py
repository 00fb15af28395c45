"""Internals shared by unipc's Python modules (channel.py, topic.py): sequentially consistent atomics on
shared memory through libatomic, futex(2) and futex_waitv(2) through libc's syscall(), the liveness check
of a thread id, POSIX shared memory names and mappings. Not a public API: names may change.

Atomics: Python has no atomic operations on shared memory, so every sequentially consistent load, store,
compare-and-swap, exchange, fetch-add, fetch-or and fetch-and goes through the GCC runtime library
libatomic (libatomic.so.1: `__atomic_load_4`, `__atomic_compare_exchange_4`, ...), called with ctypes on
the mapping's addresses. Its 4-byte operations are lock-free instructions on x86-64 and arm64 (lock
cmpxchg, lock xadd, xchg; ldar/stlr, LSE or LL/SC), so they are atomic against Node's Atomics and C's
__atomic builtins in other processes. Without libatomic.so.1 (Debian: apt-get install libatomic1)
importing unipc raises ImportError: nothing else the standard library can reach does a compare-and-swap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import os
import platform
import struct
import threading
import time
from typing import Optional

SLICE_NS = 100_000_000  # a sleep's longest slice, and the liveness interval: 100 ms
U32 = 0xFFFFFFFF


def _spin_default() -> int:
    value = os.environ.get("UNIPC_CHANNEL_SPIN")
    if value is not None and value.isdigit():
        return int(value)
    return 100


#: Reads of the other side's index (and of a channel's producers' lock) before a side sleeps, for channels
#: and topics. JavaScript and C make 1000 (~15 us from JavaScript); one read through ctypes costs ~0.3 us,
#: so 100 spin about as long. UNIPC_CHANNEL_SPIN overrides it, as for JavaScript; each end's `spin` is
#: settable.
DEFAULT_SPIN = _spin_default()

# ---- Atomics: libatomic through ctypes ---------------------------------------------------------------

SEQ_CST = 5  # __ATOMIC_SEQ_CST
RELAXED = 0


def _load_libatomic() -> ctypes.CDLL:
    problems = []
    try:
        return ctypes.CDLL("libatomic.so.1")
    except OSError as error:
        problems.append(str(error))
    found = ctypes.util.find_library("atomic")  # slow (it runs ldconfig): only when the soname fails
    if found:
        try:
            return ctypes.CDLL(found)
        except OSError as error:
            problems.append(str(error))
    raise ImportError(
        "unipc needs libatomic.so.1 (the GCC runtime's atomic operations; Debian and Ubuntu: "
        "apt-get install libatomic1, Fedora: dnf install libatomic, Alpine: apk add libatomic) for "
        "compare-and-swap on shared memory, which the Python standard library cannot do: "
        + "; ".join(problems)
    )


_atomic = _load_libatomic()


def _function(name: str, restype, *argtypes):
    function = getattr(_atomic, name)
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


_p = ctypes.c_void_p
_u32 = ctypes.c_uint32
_int = ctypes.c_int
_atomic_load = _function("__atomic_load_4", _u32, _p, _int)
_atomic_store = _function("__atomic_store_4", None, _p, _u32, _int)
_atomic_exchange = _function("__atomic_exchange_4", _u32, _p, _u32, _int)
_atomic_cas = _function("__atomic_compare_exchange_4", ctypes.c_bool, _p, _p, _u32, ctypes.c_bool, _int, _int)
_atomic_fetch_add = _function("__atomic_fetch_add_4", _u32, _p, _u32, _int)
_atomic_fetch_sub = _function("__atomic_fetch_sub_4", _u32, _p, _u32, _int)
_atomic_fetch_or = _function("__atomic_fetch_or_4", _u32, _p, _u32, _int)
_atomic_fetch_and = _function("__atomic_fetch_and_4", _u32, _p, _u32, _int)


def _load(address: int) -> int:
    return _atomic_load(address, SEQ_CST)


def _store(address: int, value: int) -> None:
    _atomic_store(address, value & U32, SEQ_CST)


def _cas(address: int, expected: int, desired: int) -> bool:
    """Compare and swap: True when the word held `expected` and now holds `desired`."""
    box = _u32(expected & U32)
    return _atomic_cas(address, ctypes.addressof(box), desired & U32, False, SEQ_CST, SEQ_CST)


def _exchange(address: int, value: int) -> int:
    return _atomic_exchange(address, value & U32, SEQ_CST)


def _fetch_add(address: int, value: int) -> int:
    return _atomic_fetch_add(address, value & U32, SEQ_CST)


def _fetch_sub(address: int, value: int) -> int:
    return _atomic_fetch_sub(address, value & U32, SEQ_CST)


def _fetch_or(address: int, bits: int) -> int:
    return _atomic_fetch_or(address, bits & U32, SEQ_CST)


def _fetch_and(address: int, bits: int) -> int:
    return _atomic_fetch_and(address, bits & U32, SEQ_CST)


# ---- System calls: futex(2), futex_waitv(2), sched_getcpu(3) through libc ------------------------------

def _load_libc() -> ctypes.CDLL:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


_libc = _load_libc()
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

_MACHINE = platform.machine()
if _MACHINE in ("x86_64", "amd64"):
    SYS_FUTEX = 202
elif _MACHINE in ("aarch64", "arm64", "riscv64", "loongarch64"):
    SYS_FUTEX = 98  # the generic table
else:
    raise ImportError(f"unipc: the futex(2) system call number of {_MACHINE} is not known here")
SYS_FUTEX_WAITV = 449  # the same on every architecture (Linux 5.16)

FUTEX_WAIT = 0
FUTEX_WAKE = 1
FUTEX_WAIT_BITSET = 9
FUTEX_BITSET_MATCH_ANY = 0xFFFFFFFF
FUTEX2_SIZE_U32 = 0x02  # shared: FUTEX2_PRIVATE not set
CLOCK_MONOTONIC = 1
INT_MAX = 0x7FFFFFFF

try:
    _sched_getcpu = _libc.sched_getcpu
    _sched_getcpu.restype = ctypes.c_int
    _sched_getcpu.argtypes = []
except AttributeError:  # not glibc
    _sched_getcpu = None


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _FutexWaitv(ctypes.Structure):
    _fields_ = [
        ("val", ctypes.c_uint64),
        ("uaddr", ctypes.c_uint64),
        ("flags", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
    ]


def _now_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def _futex_wake(address: int, count: int) -> None:
    _syscall(ctypes.c_long(SYS_FUTEX), _p(address), ctypes.c_long(FUTEX_WAKE), ctypes.c_long(count), None, None,
             ctypes.c_long(0))


def _futex_wait(address: int, expected: int, relative_ns: int) -> int:
    """FUTEX_WAIT for at most relative_ns: 0, or -errno."""
    timeout = _Timespec(relative_ns // 1_000_000_000, relative_ns % 1_000_000_000)
    r = _syscall(ctypes.c_long(SYS_FUTEX), _p(address), ctypes.c_long(FUTEX_WAIT), ctypes.c_long(expected & U32),
                 ctypes.byref(timeout), None, ctypes.c_long(0))
    return 0 if r == 0 else -ctypes.get_errno()


#: Whether futex_waitv(2) works here: None unknown, True yes, False no (ENOSYS before Linux 5.16, or EPERM
#: from a seccomp filter); then FUTEX_WAIT_BITSET on the index alone.
_waitv_works: Optional[bool] = None


def _sleep(word: int, expected: int, other: int, other_expected: int, deadline_ns: int) -> int:
    """Sleeps while the word at `word` holds `expected` and the one at `other` holds `other_expected`,
    until either is woken or the absolute CLOCK_MONOTONIC deadline: futex_waitv(2) on both, or
    FUTEX_WAIT_BITSET on `word` alone where that is refused. EINTR restarts with the same deadline.
    0 (woken, or spuriously), -EAGAIN (a word had changed), -ETIMEDOUT, or another -errno."""
    global _waitv_works
    deadline = _Timespec(deadline_ns // 1_000_000_000, deadline_ns % 1_000_000_000)
    while True:
        if _waitv_works is not False:
            waiters = (_FutexWaitv * 2)(
                _FutexWaitv(expected & U32, word, FUTEX2_SIZE_U32, 0),
                _FutexWaitv(other_expected & U32, other, FUTEX2_SIZE_U32, 0),
            )
            r = _syscall(ctypes.c_long(SYS_FUTEX_WAITV), ctypes.byref(waiters), ctypes.c_long(2), ctypes.c_long(0),
                         ctypes.byref(deadline), ctypes.c_long(CLOCK_MONOTONIC))
            if r >= 0:
                _waitv_works = True
                return 0
            err = ctypes.get_errno()
            if err not in (errno.ENOSYS, errno.EPERM):
                _waitv_works = True
                if err == errno.EINTR:
                    continue
                return -err
            _waitv_works = False
        return _sleep_one(word, expected, deadline_ns)


def _sleep_one(word: int, expected: int, deadline_ns: int) -> int:
    """Sleeps while the word at `word` holds `expected`, until woken or the absolute CLOCK_MONOTONIC
    deadline: FUTEX_WAIT_BITSET. EINTR restarts with the same deadline. 0 (woken, or spuriously), -EAGAIN
    (the word had changed), -ETIMEDOUT, or another -errno."""
    deadline = _Timespec(deadline_ns // 1_000_000_000, deadline_ns % 1_000_000_000)
    while True:
        r = _syscall(ctypes.c_long(SYS_FUTEX), _p(word), ctypes.c_long(FUTEX_WAIT_BITSET),
                     ctypes.c_long(expected & U32), ctypes.byref(deadline), None,
                     ctypes.c_long(FUTEX_BITSET_MATCH_ANY))
        if r == 0:
            return 0
        err = ctypes.get_errno()
        if err != errno.EINTR:
            return -err


class _ThreadState(threading.local):
    cpu = -1  # the CPU this thread last started waiting on, as any channel's end (-1: never)


_thread = _ThreadState()


def _cpu() -> int:
    if _sched_getcpu is not None:
        return _sched_getcpu()
    return -1


def _thread_gone(tid: int) -> bool:
    """Whether a thread id names no running thread: gone (kill agrees, since /proc may hide other users'
    processes), or a zombie (docs/locks.md, "Dead owners")."""
    try:
        with open(f"/proc/{tid}/stat", "rb") as file:
            data = file.read(512)
    except OSError:
        try:
            os.kill(tid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False
    paren = data.rfind(b")")
    if paren < 0 or paren + 2 >= len(data):
        return False
    return data[paren + 2 : paren + 3] in (b"Z", b"X")


def _error(code: int, message: str) -> OSError:
    """An OSError with `code` as errno: Python makes it BrokenPipeError for EPIPE, TimeoutError for
    ETIMEDOUT, BlockingIOError for EAGAIN."""
    return OSError(code, message)


_word = struct.Struct("=I")


def _shm_path(name: str) -> str:
    """The file of POSIX shared memory object `name` ('/name' or 'name'), as glibc's shm_open(3) makes it."""
    bare = name[1:] if name.startswith("/") else name
    if not bare or "/" in bare or bare in (".", ".."):
        raise _error(errno.EINVAL, f"not a POSIX shared memory name: {name!r}")
    return "/dev/shm/" + bare


def _open_shm(name: str) -> int:
    """A read-write descriptor of POSIX shared memory object `name` (shm_open(3) without O_CREAT)."""
    return os.open(_shm_path(name), os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)


def _map_fd(fd: int, least: int, what: str) -> mmap.mmap:
    """Maps the whole object behind `fd`, shared and read-write; EPROTO when it is shorter than `least`
    bytes (no unipc `what` can be that short)."""
    size = os.fstat(fd).st_size
    if size < least:
        raise _error(errno.EPROTO, f"not a unipc {what} ({size} bytes, less than its header)")
    return mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)


def _base_of(memory: mmap.mmap):
    """(anchor, address): a ctypes object over the mapping's first byte, which pins the mapping (an mmap
    with exports cannot be closed or resized) while its address is in use; drop the anchor before
    memory.close()."""
    anchor = ctypes.c_char.from_buffer(memory)
    return anchor, ctypes.addressof(anchor)
