// Semaphores: System V sets (semget/semop/semtimedop/semctl) and POSIX named semaphores (sem_open and
// friends). A sem_t* never reaches JavaScript: named semaphores are registry handles, and a wait on a
// waiter thread holds its own reference, so close() cannot sem_close under a thread still in sem_wait.
#include <dlfcn.h>
#include <fcntl.h>
#include <semaphore.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common.h"
#include "sysv.h"
#include "wait.h"

namespace unipc {
namespace {

// glibc leaves the definition of semctl's fourth argument to the caller.
union SemUnion {
  int val;
  struct semid_ds* buf;
  unsigned short* array;
};

// ---- System V ------------------------------------------------------------------------------------

// semget(key, nsems, flags) → id
Napi::Value Semget(const Napi::CallbackInfo& info) {
  Args args(info);
  int key = args.Int32(0);
  int nsems = args.Int32(1);
  int flags = args.Int32(2);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(semget(key, nsems, flags)));
}

// The operations of a semop call, given as an Int32Array of (index, delta, flags) triples. Out of range
// values are a bug of the TypeScript layer, not something to truncate silently.
bool ReadOps(Args& args, size_t i, std::vector<struct sembuf>* ops) {
  ByteRange bytes = args.Bytes(i);
  if (!args.ok()) return false;
  size_t count = bytes.length / (3 * sizeof(int32_t));
  const int32_t* values = reinterpret_cast<const int32_t*>(bytes.data);
  ops->resize(count);
  for (size_t k = 0; k < count; k++) {
    int32_t index = values[3 * k], delta = values[3 * k + 1], flags = values[3 * k + 2];
    if (index < 0 || index > USHRT_MAX || delta < SHRT_MIN || delta > SHRT_MAX || flags < SHRT_MIN ||
        flags > SHRT_MAX) {
      Napi::TypeError::New(args.Env(), "semop operation out of range").ThrowAsJavaScriptException();
      return false;
    }
    (*ops)[k].sem_num = static_cast<unsigned short>(index);
    (*ops)[k].sem_op = static_cast<short>(delta);
    (*ops)[k].sem_flg = static_cast<short>(flags);
  }
  return true;
}

// semtimedop(id, ops: Int32Array, timeoutMs) → 0, on the calling thread. A negative timeout waits
// without limit; an expired one is -EAGAIN, as the kernel reports it.
Napi::Value Semtimedop(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  std::vector<struct sembuf> ops;
  if (!args.ok() || !ReadOps(args, 1, &ops)) return info.Env().Undefined();
  double timeout_ms = args.Double(2);
  if (!args.ok()) return info.Env().Undefined();
  // Rounded up: TypeScript tells an expired timeout from an IPC_NOWAIT failure by whether it has passed.
  timespec ts = RelativeTimespec(timeout_ms);
  return Result(info.Env(), SyscallResult(semtimedop(id, ops.data(), ops.size(), timeout_ms < 0 ? nullptr : &ts)));
}

// semopAsync(id, ops: Int32Array, callback(result)) → wait id. semop on a waiter thread; cancelling it
// interrupts the call, and an interrupted semop has applied none of its operations.
Napi::Value SemopAsync(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  std::vector<struct sembuf> ops;
  if (!args.ok() || !ReadOps(args, 1, &ops)) return info.Env().Undefined();
  Napi::Function callback = args.Function(2);
  if (!args.ok()) return info.Env().Undefined();
  // Undoing: what a semop that completed after its environment went away applied is given back (the
  // inverse operations, never blocking), so a terminated worker takes nothing it could not deliver.
  std::vector<struct sembuf> inverse;
  for (const struct sembuf& op : ops) {
    if (op.sem_op == 0) continue;
    struct sembuf back = op;
    back.sem_op = static_cast<short>(-op.sem_op);
    back.sem_flg = static_cast<short>(op.sem_flg | IPC_NOWAIT);
    inverse.push_back(back);
  }
  return StartWait(
      info.Env(),
      [id, ops = std::move(ops)]() mutable -> int64_t { return SyscallResult(semop(id, ops.data(), ops.size())); },
      callback,
      [id, inverse = std::move(inverse)](int64_t) mutable {
        if (!inverse.empty()) semop(id, inverse.data(), inverse.size());
      });
}

// semctl(id, index, cmd, value) → the command's result, for the commands that take an int or nothing
// (GETVAL, SETVAL, GETPID, GETNCNT, GETZCNT, IPC_RMID); any other command is -EINVAL here, since it
// would make the kernel read or write through the argument as a pointer.
Napi::Value Semctl(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  int index = args.Int32(1);
  int cmd = args.Int32(2);
  int value = args.Int32(3);
  if (!args.ok()) return info.Env().Undefined();
  if (cmd != GETVAL && cmd != SETVAL && cmd != GETPID && cmd != GETNCNT && cmd != GETZCNT && cmd != IPC_RMID) {
    return Result(info.Env(), -EINVAL);
  }
  SemUnion arg;
  arg.val = value;
  return Result(info.Env(), SyscallResult(semctl(id, index, cmd, arg)));
}

// The number of semaphores in the set (IPC_STAT), or -errno.
int64_t SetSize(int id) {
  struct semid_ds stat;
  SemUnion arg;
  arg.buf = &stat;
  if (semctl(id, 0, IPC_STAT, arg) != 0) return -errno;
  return static_cast<int64_t>(stat.sem_nsems);
}

// semctlGetAll(id, out: Uint16Array) → nsems (GETALL); the first min(nsems, out.length) values are
// copied out. GETALL writes as many values as the set has, so it fills a buffer sized by IPC_STAT
// first (an id cannot name a different set meanwhile unless its sequence number wraps around).
Napi::Value SemctlGetAll(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  ByteRange out = args.Bytes(1);
  if (!args.ok()) return info.Env().Undefined();
  int64_t nsems = SetSize(id);
  if (nsems < 0) return Result(info.Env(), nsems);
  std::vector<unsigned short> values(static_cast<size_t>(nsems) + 1);
  SemUnion arg;
  arg.array = values.data();
  if (semctl(id, 0, GETALL, arg) != 0) return Result(info.Env(), -errno);
  size_t n = std::min(static_cast<size_t>(nsems), out.length / sizeof(unsigned short));
  std::memcpy(out.data, values.data(), n * sizeof(unsigned short));
  return Result(info.Env(), nsems);
}

// semctlSetAll(id, values: Uint16Array) → 0 (SETALL). SETALL reads as many values as the set has, and
// TypeScript passes one per semaphore of the set it opened (whose size never changes): any other number
// is a bug there, so a TypeError rather than an errno.
Napi::Value SemctlSetAll(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  ByteRange in = args.Bytes(1);
  if (!args.ok()) return info.Env().Undefined();
  int64_t nsems = SetSize(id);
  if (nsems < 0) return Result(info.Env(), nsems);
  if (in.length != static_cast<size_t>(nsems) * sizeof(unsigned short)) {
    std::string message = "unipc native call: semctlSetAll needs a Uint16Array of one value per semaphore (" +
                          std::to_string(nsems) + "); it got " + std::to_string(in.length) + " bytes";
    napi_throw_type_error(info.Env(), "ERR_INVALID_ARG_VALUE", message.c_str());
    return info.Env().Undefined();
  }
  std::vector<unsigned short> values(static_cast<size_t>(nsems) + 1);
  std::memcpy(values.data(), in.data, in.length);
  SemUnion arg;
  arg.array = values.data();
  return Result(info.Env(), SyscallResult(semctl(id, 0, SETALL, arg)));
}

// Layout of the semctlStat output array.
enum StatField { kStatNsems = kPermFields, kStatOtime, kStatCtime, kStatFields };

// semctlStat(id, out: Float64Array(10)) → 0 (IPC_STAT)
Napi::Value SemctlStat(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  ByteRange out = args.Float64Out(1, kStatFields, "semctlStat");
  if (!args.ok()) return info.Env().Undefined();
  struct semid_ds stat;
  SemUnion arg;
  arg.buf = &stat;
  if (semctl(id, 0, IPC_STAT, arg) != 0) return Result(info.Env(), -errno);
  double fields[kStatFields];
  PermFields(stat.sem_perm, fields);
  fields[kStatNsems] = static_cast<double>(stat.sem_nsems);
  fields[kStatOtime] = static_cast<double>(stat.sem_otime);
  fields[kStatCtime] = static_cast<double>(stat.sem_ctime);
  std::memcpy(out.data, fields, sizeof(fields));
  return Result(info.Env(), 0);
}

// semctlSet(id, uid, gid, mode) → 0 (IPC_SET: only these three fields are read by the kernel)
Napi::Value SemctlSet(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  uint32_t uid = args.Uint32(1);
  uint32_t gid = args.Uint32(2);
  int mode = args.Int32(3);
  if (!args.ok()) return info.Env().Undefined();
  struct semid_ds stat {};
  SetPerm(&stat.sem_perm, uid, gid, mode);
  SemUnion arg;
  arg.buf = &stat;
  return Result(info.Env(), SyscallResult(semctl(id, 0, IPC_SET, arg)));
}

// ---- POSIX named semaphores ----------------------------------------------------------------------

// An open sem_t, closed when its last holder lets go: the registry entry (until semClose) and each
// wait running on a waiter thread.
struct NamedSem {
  explicit NamedSem(sem_t* s) : sem(s) {}
  ~NamedSem() { sem_close(sem); }
  NamedSem(const NamedSem&) = delete;
  NamedSem& operator=(const NamedSem&) = delete;
  sem_t* sem;
};

using NamedSemPtr = std::shared_ptr<NamedSem>;

struct OpenSem {
  NamedSemPtr sem;
  napi_env env;  // the environment that opened it, which closes it at teardown if JavaScript did not
};

// Process-wide (handles may be used from any worker thread) and never destroyed, like the waiter pool.
struct Registry {
  std::mutex mu;
  std::unordered_map<uint32_t, OpenSem> open;
  std::unordered_set<napi_env> hooked;  // environments with a teardown hook installed
  uint32_t next = 1;
};

Registry& TheRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

// The semaphore behind a handle, or null once closed (handles are never reused).
NamedSemPtr Lookup(uint32_t handle) {
  Registry& registry = TheRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  auto it = registry.open.find(handle);
  return it == registry.open.end() ? nullptr : it->second.sem;
}

// A terminated worker never runs the finalizers of its objects: its semaphores are closed here (each
// once no wait holds it any more).
void CloseAllOf(void* arg) {
  auto env = static_cast<napi_env>(arg);
  std::vector<NamedSemPtr> closing;
  Registry& registry = TheRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  registry.hooked.erase(env);
  for (auto it = registry.open.begin(); it != registry.open.end();) {
    if (it->second.env == env) {
      closing.push_back(std::move(it->second.sem));
      it = registry.open.erase(it);
    } else {
      ++it;
    }
  }
}

// semOpen(name, flags, mode, value) → handle (> 0)
Napi::Value SemOpen(const Napi::CallbackInfo& info) {
  Args args(info);
  std::string name = args.String(0);
  int flags = args.Int32(1);
  uint32_t mode = args.Uint32(2);
  uint32_t value = args.Uint32(3);
  if (!args.ok()) return info.Env().Undefined();
  sem_t* sem = sem_open(name.c_str(), flags, static_cast<mode_t>(mode), value);
  if (sem == SEM_FAILED) return Result(info.Env(), -errno);
  napi_env env = info.Env();
  Registry& registry = TheRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  if (registry.hooked.insert(env).second) napi_add_env_cleanup_hook(env, CloseAllOf, env);
  uint32_t handle = registry.next++;
  registry.open.emplace(handle, OpenSem{MakeShared<NamedSem>(sem), env});
  return Result(info.Env(), handle);
}

// semClose(handle) → 0 or -EBADF. sem_close happens now, or when the last pending wait has returned.
Napi::Value SemClose(const Napi::CallbackInfo& info) {
  Args args(info);
  uint32_t handle = args.Uint32(0);
  if (!args.ok()) return info.Env().Undefined();
  NamedSemPtr last;
  Registry& registry = TheRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  auto it = registry.open.find(handle);
  if (it == registry.open.end()) return Result(info.Env(), -EBADF);
  last = std::move(it->second.sem);
  registry.open.erase(it);
  return Result(info.Env(), 0);
}

// semUnlink(name) → 0
Napi::Value SemUnlink(const Napi::CallbackInfo& info) {
  Args args(info);
  std::string name = args.String(0);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(sem_unlink(name.c_str())));
}

// Runs fn(sem) for the handle in argument 0; -EBADF when it is not open.
template <typename Fn>
Napi::Value WithSemaphore(const Napi::CallbackInfo& info, Fn fn) {
  Args args(info);
  uint32_t handle = args.Uint32(0);
  if (!args.ok()) return info.Env().Undefined();
  NamedSemPtr named = Lookup(handle);
  if (!named) return Result(info.Env(), -EBADF);
  return Result(info.Env(), fn(named->sem));
}

// semPost(handle) → 0
Napi::Value SemPost(const Napi::CallbackInfo& info) {
  return WithSemaphore(info, [](sem_t* sem) { return SyscallResult(sem_post(sem)); });
}

// semTryWait(handle) → 0, or -EAGAIN when the value is 0
Napi::Value SemTryWait(const Napi::CallbackInfo& info) {
  return WithSemaphore(info, [](sem_t* sem) { return SyscallResult(sem_trywait(sem)); });
}

// semGetValue(handle) → value
Napi::Value SemGetValue(const Napi::CallbackInfo& info) {
  return WithSemaphore(info, [](sem_t* sem) -> int64_t {
    int value = 0;
    return sem_getvalue(sem, &value) != 0 ? -errno : value;
  });
}

// sem_clockwait (glibc 2.30, musl none), looked up at run time so that the addon loads on an older C
// library (native/compat.h); null there, or with UNIPC_SEM_TIMEDWAIT=1 (which the tests set to run the
// fallback).
using SemClockwait = int (*)(sem_t*, clockid_t, const timespec*);
SemClockwait FindSemClockwait() {
  static const SemClockwait found = []() -> SemClockwait {
    const char* forced = getenv("UNIPC_SEM_TIMEDWAIT");
    if (forced != nullptr && strcmp(forced, "1") == 0) return nullptr;
    return reinterpret_cast<SemClockwait>(dlsym(RTLD_DEFAULT, "sem_clockwait"));
  }();
  return found;
}

// Waits until the CLOCK_MONOTONIC `deadline` → 0, or -1 with errno (ETIMEDOUT when it passes). Without
// sem_clockwait, sem_timedwait takes a CLOCK_REALTIME time: what is left of the deadline, converted
// afresh whenever the wall clock ran ahead of it (a clock set forward cannot shorten the wait; one set
// back during it lengthens it, as with any sem_timedwait).
int SemWaitUntil(sem_t* sem, const timespec& deadline) {
  if (SemClockwait clockwait = FindSemClockwait()) return clockwait(sem, CLOCK_MONOTONIC, &deadline);
  for (;;) {
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t left_ns =
        (static_cast<int64_t>(deadline.tv_sec) - now.tv_sec) * 1000000000LL + (deadline.tv_nsec - now.tv_nsec);
    if (left_ns < 0) left_ns = 0;
    timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += static_cast<time_t>(left_ns / 1000000000LL);
    until.tv_nsec += static_cast<long>(left_ns % 1000000000LL);
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    if (sem_timedwait(sem, &until) == 0) return 0;  // taken, even with no time left, as sem_clockwait does
    if (errno != ETIMEDOUT || left_ns == 0) return -1;
  }
}

// semWait(handle, timeoutMs) → 0, on the calling thread: sem_wait, or with a timeout (>= 0) a wait until
// a CLOCK_MONOTONIC deadline (-ETIMEDOUT when it passes), so a clock change cannot stretch it.
Napi::Value SemWait(const Napi::CallbackInfo& info) {
  Args args(info);
  uint32_t handle = args.Uint32(0);
  double timeout_ms = args.Double(1);
  if (!args.ok()) return info.Env().Undefined();
  NamedSemPtr named = Lookup(handle);
  if (!named) return Result(info.Env(), -EBADF);
  if (timeout_ms < 0) return Result(info.Env(), SyscallResult(sem_wait(named->sem)));
  timespec deadline = MonotonicDeadline(timeout_ms);
  return Result(info.Env(), SyscallResult(SemWaitUntil(named->sem, deadline)));
}

// semWaitAsync(handle, callback(result)) → wait id. sem_wait on a waiter thread, which holds the
// semaphore open until it returns.
Napi::Value SemWaitAsync(const Napi::CallbackInfo& info) {
  Args args(info);
  uint32_t handle = args.Uint32(0);
  Napi::Function callback = args.Function(1);
  if (!args.ok()) return info.Env().Undefined();
  NamedSemPtr named = Lookup(handle);
  if (!named) return Result(info.Env(), -EBADF);
  return StartWait(
      info.Env(), [named]() -> int64_t { return SyscallResult(sem_wait(named->sem)); }, callback,
      // A unit taken for an environment that went away is posted back.
      [named](int64_t) { sem_post(named->sem); });
}

}  // namespace

void InitSem(Napi::Env env, Napi::Object exports) {
  UNIPC_EXPORT(exports, "semget", Semget);
  UNIPC_EXPORT(exports, "semtimedop", Semtimedop);
  UNIPC_EXPORT(exports, "semopAsync", SemopAsync);
  UNIPC_EXPORT(exports, "semctl", Semctl);
  UNIPC_EXPORT(exports, "semctlGetAll", SemctlGetAll);
  UNIPC_EXPORT(exports, "semctlSetAll", SemctlSetAll);
  UNIPC_EXPORT(exports, "semctlStat", SemctlStat);
  UNIPC_EXPORT(exports, "semctlSet", SemctlSet);
  UNIPC_EXPORT(exports, "semOpen", SemOpen);
  UNIPC_EXPORT(exports, "semClose", SemClose);
  UNIPC_EXPORT(exports, "semUnlink", SemUnlink);
  UNIPC_EXPORT(exports, "semPost", SemPost);
  UNIPC_EXPORT(exports, "semTryWait", SemTryWait);
  UNIPC_EXPORT(exports, "semGetValue", SemGetValue);
  UNIPC_EXPORT(exports, "semWait", SemWait);
  UNIPC_EXPORT(exports, "semWaitAsync", SemWaitAsync);

  Napi::Object c = ConstantsOf(exports);
  UNIPC_CONSTANT(c, IPC_NOWAIT);
  UNIPC_CONSTANT(c, IPC_RMID);
  UNIPC_CONSTANT(c, SEM_UNDO);
  UNIPC_CONSTANT(c, GETVAL);
  UNIPC_CONSTANT(c, SETVAL);
  UNIPC_CONSTANT(c, GETPID);
  UNIPC_CONSTANT(c, GETNCNT);
  UNIPC_CONSTANT(c, GETZCNT);
  UNIPC_CONSTANT(c, SEM_VALUE_MAX);
  c.Set("SEM_CLOCKWAIT", Napi::Boolean::New(env, FindSemClockwait() != nullptr));
  c.Set("SEMVMX", Napi::Number::New(env, 32767));  // the kernel's limit, not in the user headers
  c.Set("SEMCTL_STAT_FIELDS", Napi::Number::New(env, kStatFields));
}

}  // namespace unipc
