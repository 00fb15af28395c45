// Futexes on mapped memory: the kernel half of the locks in src/lock.ts. The lock words themselves are
// read and written with Atomics in JavaScript; only sleeping and waking come here. The futexes are the
// shared (non-private) kind, so waiters in different processes that map the same pages meet.
#include <dlfcn.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common.h"
#include "mmap.h"
#include "wait.h"

namespace unipc {
namespace {

// An absolute CLOCK_MONOTONIC deadline, so that a wait restarted after EINTR keeps its original end.
struct Deadline {
  bool forever = true;
  struct timespec at {};
};

Deadline DeadlineAfter(double timeout_ms) {
  Deadline deadline;
  if (timeout_ms < 0) return deadline;
  deadline.forever = false;
  deadline.at = MonotonicDeadline(timeout_ms);
  return deadline;
}

// The 4-byte word at `offset` of a region, with a hold that keeps it mapped; `error` is -EBADF for a
// region that is gone, -EINVAL for an offset that is not an aligned word inside it.
struct HeldWord {
  std::shared_ptr<RegionHold> hold;
  uint32_t* word = nullptr;
  int64_t error = 0;
};

HeldWord HoldWord(int64_t region, double offset) {
  HeldWord held;
  held.hold = RegionHold::Take(static_cast<uint64_t>(region));
  if (!held.hold) {
    held.error = -EBADF;
  } else if (offset < 0 || std::fmod(offset, 4) != 0 || offset + 4 > static_cast<double>(held.hold->length())) {
    held.error = -EINVAL;
  } else {
    held.word = reinterpret_cast<uint32_t*>(held.hold->address() + static_cast<size_t>(offset));
  }
  return held;
}

// One FUTEX_WAIT_BITSET (the variant whose timeout is absolute): 0 when woken (or spuriously),
// -EAGAIN when the word no longer held `expected`, -ETIMEDOUT, or -EINTR.
int64_t FutexWait(uint32_t* word, int32_t expected, const Deadline& deadline) {
  long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, static_cast<uint32_t>(expected),
                   deadline.forever ? nullptr : &deadline.at, nullptr, FUTEX_BITSET_MATCH_ANY);
  return SyscallResult(r);
}

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449  // the same on x86_64 and arm64 (Linux 5.16)
#endif

// struct futex_waitv of <linux/futex.h>, spelled out: the headers a build sees can predate it.
struct FutexWaitv {
  uint64_t val;
  uint64_t uaddr;
  uint32_t flags;
  uint32_t reserved;
};
constexpr uint32_t kFutex2SizeU32 = 0x02;  // FUTEX2_SIZE_U32; not FUTEX2_PRIVATE: other processes wait too

// Whether futex_waitv works here: unknown (-1) until the first call says (a kernel before 5.16 says
// ENOSYS; a seccomp filter may say EPERM).
std::atomic<int> waitv_works{-1};

// Sleeps while `word` holds `expected` and `other` holds `other_expected`, waking when either is woken:
// 0, -EAGAIN when either no longer held its value, -ETIMEDOUT, -EINTR. Where futex_waitv is missing,
// sleeps on `word` alone (a change of `other` is then seen at the caller's next look).
int64_t FutexWaitEither(uint32_t* word, int32_t expected, uint32_t* other, int32_t other_expected,
                        const Deadline& deadline) {
  if (waitv_works.load(std::memory_order_relaxed) != 0) {
    FutexWaitv waiters[2] = {
        {static_cast<uint32_t>(expected), reinterpret_cast<uintptr_t>(word), kFutex2SizeU32, 0},
        {static_cast<uint32_t>(other_expected), reinterpret_cast<uintptr_t>(other), kFutex2SizeU32, 0},
    };
    long r = syscall(SYS_futex_waitv, waiters, 2, 0, deadline.forever ? nullptr : &deadline.at, CLOCK_MONOTONIC);
    if (r >= 0) {
      waitv_works.store(1, std::memory_order_relaxed);
      return 0;
    }
    int err = errno;
    if (err != ENOSYS && err != EPERM) {
      waitv_works.store(1, std::memory_order_relaxed);
      return -err;
    }
    waitv_works.store(0, std::memory_order_relaxed);
  }
  return FutexWait(word, expected, deadline);
}

// futexWait(region, offset, expected, timeoutMs) → 0 | -EAGAIN | -ETIMEDOUT, on the calling thread.
// A negative timeout waits until woken.
Napi::Value FutexWaitSync(const Napi::CallbackInfo& info) {
  Args args(info);
  int64_t region = args.Int64(0);
  double offset = args.Double(1);
  int32_t expected = args.Int32(2);
  double timeout_ms = args.Double(3);
  if (!args.ok()) return info.Env().Undefined();
  HeldWord held = HoldWord(region, offset);
  if (held.error != 0) return Result(info.Env(), held.error);
  Deadline deadline = DeadlineAfter(timeout_ms);
  for (;;) {
    int64_t r = FutexWait(held.word, expected, deadline);
    if (r != -EINTR) return Result(info.Env(), r);
  }
}

// futexWaitAsync(region, offset, expected, timeoutMs, callback(result)) → wait id. The wait runs on a
// waiter thread that holds the region, so its pages stay mapped until the futex call has returned.
Napi::Value FutexWaitAsync(const Napi::CallbackInfo& info) {
  Args args(info);
  int64_t region = args.Int64(0);
  double offset = args.Double(1);
  int32_t expected = args.Int32(2);
  double timeout_ms = args.Double(3);
  Napi::Function callback = args.Function(4);
  if (!args.ok()) return info.Env().Undefined();
  HeldWord held = HoldWord(region, offset);
  if (held.error != 0) return Result(info.Env(), held.error);
  Deadline deadline = DeadlineAfter(timeout_ms);
  return StartWait(
      info.Env(), [held, expected, deadline]() { return FutexWait(held.word, expected, deadline); }, callback);
}

// futexWaitEither(region, offset, expected, otherOffset, otherExpected, timeoutMs) → as futexWait(), but
// also ends when the word at otherOffset no longer holds otherExpected or is woken (futex_waitv(2)).
Napi::Value FutexWaitEitherSync(const Napi::CallbackInfo& info) {
  Args args(info);
  int64_t region = args.Int64(0);
  double offset = args.Double(1);
  int32_t expected = args.Int32(2);
  double other_offset = args.Double(3);
  int32_t other_expected = args.Int32(4);
  double timeout_ms = args.Double(5);
  if (!args.ok()) return info.Env().Undefined();
  HeldWord held = HoldWord(region, offset);
  if (held.error != 0) return Result(info.Env(), held.error);
  HeldWord other = HoldWord(region, other_offset);
  if (other.error != 0) return Result(info.Env(), other.error);
  Deadline deadline = DeadlineAfter(timeout_ms);
  for (;;) {
    int64_t r = FutexWaitEither(held.word, expected, other.word, other_expected, deadline);
    if (r != -EINTR) return Result(info.Env(), r);
  }
}

// futexWaitEitherAsync(region, offset, expected, otherOffset, otherExpected, timeoutMs, callback) → wait
// id: futexWaitEither() on a waiter thread.
Napi::Value FutexWaitEitherAsync(const Napi::CallbackInfo& info) {
  Args args(info);
  int64_t region = args.Int64(0);
  double offset = args.Double(1);
  int32_t expected = args.Int32(2);
  double other_offset = args.Double(3);
  int32_t other_expected = args.Int32(4);
  double timeout_ms = args.Double(5);
  Napi::Function callback = args.Function(6);
  if (!args.ok()) return info.Env().Undefined();
  HeldWord held = HoldWord(region, offset);
  if (held.error != 0) return Result(info.Env(), held.error);
  HeldWord other = HoldWord(region, other_offset);
  if (other.error != 0) return Result(info.Env(), other.error);
  Deadline deadline = DeadlineAfter(timeout_ms);
  return StartWait(
      info.Env(),
      [held, expected, other, other_expected, deadline]() {
        return FutexWaitEither(held.word, expected, other.word, other_expected, deadline);
      },
      callback);
}

// futexWake(region, offset, count) → the number of waiters woken.
Napi::Value FutexWake(const Napi::CallbackInfo& info) {
  Args args(info);
  int64_t region = args.Int64(0);
  double offset = args.Double(1);
  int32_t count = args.Int32(2);
  if (!args.ok()) return info.Env().Undefined();
  HeldWord held = HoldWord(region, offset);
  if (held.error != 0) return Result(info.Env(), held.error);
  return Result(info.Env(), SyscallResult(syscall(SYS_futex, held.word, FUTEX_WAKE, count, nullptr, nullptr, 0)));
}

// gettid() → the calling thread's id: the owner a Mutex records in its word.
Napi::Value GetTid(const Napi::CallbackInfo& info) {
  return Result(info.Env(), static_cast<int64_t>(syscall(SYS_gettid)));
}

// sched_getcpu() → the CPU the calling thread runs on (from the vDSO): a waiting side compares it with
// its peer's, since spinning helps only when the peer runs on another CPU.
napi_value CurrentCpu(napi_env env, napi_callback_info) {
  napi_value result;
  napi_create_int32(env, sched_getcpu(), &result);
  return result;
}

// The calling thread's rseq area, as an ArrayBuffer of its first 8 bytes (cpu_id_start, cpu_id), or
// undefined. glibc 2.35 and later register one per thread (rseq(2)); the kernel rewrites cpu_id before the
// thread runs user code on another CPU, so JavaScript reads the CPU with a load where currentCpu() costs a
// Node-API call on every wait that may spin. The symbols are looked up at run time, so that the prebuilt
// binary still loads on an older glibc or on musl; none of this exists there, nor where registration is
// off (GLIBC_TUNABLES=glibc.pthread.rseq=0) or failed (cpu_id negative), nor where the runtime copies the
// memory of an external ArrayBuffer rather than use it (the buffer's data pointer is checked), nor where it
// refuses external buffers (a V8 sandbox). The area lives as long as the thread, and so does the addon's
// instance that asks for it (a worker's is torn down before its thread ends).
napi_value CpuIdArea(napi_env env, napi_callback_info) {
  auto offset = reinterpret_cast<const ptrdiff_t*>(dlsym(RTLD_DEFAULT, "__rseq_offset"));
  auto size = reinterpret_cast<const unsigned int*>(dlsym(RTLD_DEFAULT, "__rseq_size"));
  if (offset == nullptr || size == nullptr || *size < 8) return nullptr;
  auto area = static_cast<char*>(__builtin_thread_pointer()) + *offset;
  int32_t cpu_id;
  std::memcpy(&cpu_id, area + 4, sizeof cpu_id);
  if (cpu_id < 0) return nullptr;
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, area, 8, nullptr, nullptr, &buffer) != napi_ok) return nullptr;
  void* data = nullptr;
  size_t length = 0;
  if (napi_get_arraybuffer_info(env, buffer, &data, &length) != napi_ok || data != area || length != 8) return nullptr;
  return buffer;
}

// sched_yield() → undefined: a side that polls while its peer last ran on the same CPU steps aside, since
// the peer can make progress only while this thread does not hold the CPU.
napi_value YieldCpu(napi_env, napi_callback_info) {
  sched_yield();
  return nullptr;
}

}  // namespace

void InitFutex(Napi::Env env, Napi::Object exports) {
  UNIPC_EXPORT(exports, "futexWait", FutexWaitSync);
  UNIPC_EXPORT(exports, "futexWaitAsync", FutexWaitAsync);
  UNIPC_EXPORT(exports, "futexWaitEither", FutexWaitEitherSync);
  UNIPC_EXPORT(exports, "futexWaitEitherAsync", FutexWaitEitherAsync);
  UNIPC_EXPORT(exports, "futexWake", FutexWake);
  UNIPC_EXPORT(exports, "gettid", GetTid);
  napi_value currentCpu;
  napi_create_function(env, "currentCpu", NAPI_AUTO_LENGTH, CurrentCpu, nullptr, &currentCpu);
  exports.Set("currentCpu", Napi::Value(env, currentCpu));
  napi_value cpuIdArea;
  napi_create_function(env, "cpuIdArea", NAPI_AUTO_LENGTH, CpuIdArea, nullptr, &cpuIdArea);
  exports.Set("cpuIdArea", Napi::Value(env, cpuIdArea));
  napi_value yieldCpu;
  napi_create_function(env, "yieldCpu", NAPI_AUTO_LENGTH, YieldCpu, nullptr, &yieldCpu);
  exports.Set("yieldCpu", Napi::Value(env, yieldCpu));

  Napi::Object c = ConstantsOf(exports);
  c.Set("FUTEX_WAITERS", Napi::Number::New(env, static_cast<double>(FUTEX_WAITERS)));
  c.Set("FUTEX_OWNER_DIED", Napi::Number::New(env, FUTEX_OWNER_DIED));
  c.Set("FUTEX_TID_MASK", Napi::Number::New(env, FUTEX_TID_MASK));
}

}  // namespace unipc
