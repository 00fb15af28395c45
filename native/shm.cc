// Shared memory: POSIX shm_open/shm_unlink, System V ftok/shmget/shmat/shmctl. Attachments are regions
// of the registry in mmap.cc, so their ArrayBuffers are detached before shmdt.
#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>

#include <cstring>

#include "common.h"
#include "mmap.h"
#include "sysv.h"

namespace unipc {
namespace {

// shmOpen(name, flags, mode) → fd
Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  Args args(info);
  std::string name = args.String(0);
  int flags = args.Int32(1);
  int mode = args.Int32(2);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(shm_open(name.c_str(), flags, static_cast<mode_t>(mode))));
}

// shmUnlink(name) → 0
Napi::Value ShmUnlink(const Napi::CallbackInfo& info) {
  Args args(info);
  std::string name = args.String(0);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(shm_unlink(name.c_str())));
}

// ftok(path, projId, out: Int32Array(1)) → 0; out = [key]. (A key can be -1, so it is not the result.)
Napi::Value Ftok(const Napi::CallbackInfo& info) {
  Args args(info);
  std::string path = args.String(0);
  int project = args.Int32(1);
  int32_t* out = args.Int32Out(2, 1);
  if (!args.ok()) return info.Env().Undefined();
  errno = 0;
  key_t key = ftok(path.c_str(), project);
  if (key == -1 && errno != 0) return Result(info.Env(), -errno);
  out[0] = key;
  return Result(info.Env(), 0);
}

// shmget(key, size, flags) → id
Napi::Value Shmget(const Napi::CallbackInfo& info) {
  Args args(info);
  int key = args.Int32(0);
  int64_t size = args.Int64(1);
  int flags = args.Int32(2);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(shmget(key, static_cast<size_t>(size), flags)));
}

// shmat(id, flags, guard) → view object or -errno. The view is as long as the segment; the region is
// released like any other (its retirement is the detach).
Napi::Value Shmat(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  int flags = args.Int32(1);
  int guard = args.Int32(2);
  if (!args.ok()) return info.Env().Undefined();
  void* address = shmat(id, nullptr, flags);
  if (address == reinterpret_cast<void*>(-1)) return Result(info.Env(), -errno);
  struct shmid_ds stat;
  if (shmctl(id, IPC_STAT, &stat) != 0) {
    int err = errno;
    shmdt(address);
    return Result(info.Env(), -err);
  }
  RegionSpec spec;
  spec.address = address;
  spec.length = stat.shm_segsz;
  spec.guard = guard;
  spec.writable = (flags & SHM_RDONLY) == 0;
  return NewRegion(info.Env(), spec);
}

// Layout of the shmctlStat output array.
enum StatField {
  kStatKey,
  kStatUid,
  kStatGid,
  kStatCuid,
  kStatCgid,
  kStatMode,
  kStatSeq,
  kStatSize,
  kStatAtime,
  kStatDtime,
  kStatCtime,
  kStatCpid,
  kStatLpid,
  kStatNattch,
  kStatFields
};
static_assert(kStatSize == kPermFields, "the ipc_perm fields come first");

// shmctlStat(id, out: Float64Array(14)) → 0 (IPC_STAT)
Napi::Value ShmctlStat(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  ByteRange out = args.Float64Out(1, kStatFields, "shmctlStat");
  if (!args.ok()) return info.Env().Undefined();
  struct shmid_ds stat;
  if (shmctl(id, IPC_STAT, &stat) != 0) return Result(info.Env(), -errno);
  double fields[kStatFields];
  PermFields(stat.shm_perm, fields);
  fields[kStatSize] = static_cast<double>(stat.shm_segsz);
  fields[kStatAtime] = static_cast<double>(stat.shm_atime);
  fields[kStatDtime] = static_cast<double>(stat.shm_dtime);
  fields[kStatCtime] = static_cast<double>(stat.shm_ctime);
  fields[kStatCpid] = stat.shm_cpid;
  fields[kStatLpid] = stat.shm_lpid;
  fields[kStatNattch] = static_cast<double>(stat.shm_nattch);
  std::memcpy(out.data, fields, sizeof(fields));
  return Result(info.Env(), 0);
}

// shmctlSet(id, uid, gid, mode) → 0 (IPC_SET: only these three fields are read by the kernel)
Napi::Value ShmctlSet(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  uint32_t uid = args.Uint32(1);
  uint32_t gid = args.Uint32(2);
  int mode = args.Int32(3);
  if (!args.ok()) return info.Env().Undefined();
  struct shmid_ds stat {};
  SetPerm(&stat.shm_perm, uid, gid, mode);
  return Result(info.Env(), SyscallResult(shmctl(id, IPC_SET, &stat)));
}

// shmctlRemove(id) → 0 (IPC_RMID: the segment goes when its last attachment does)
Napi::Value ShmctlRemove(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(shmctl(id, IPC_RMID, nullptr)));
}

}  // namespace

void InitShm(Napi::Env env, Napi::Object exports) {
  UNIPC_EXPORT(exports, "shmOpen", ShmOpen);
  UNIPC_EXPORT(exports, "shmUnlink", ShmUnlink);
  UNIPC_EXPORT(exports, "ftok", Ftok);
  UNIPC_EXPORT(exports, "shmget", Shmget);
  UNIPC_EXPORT(exports, "shmat", Shmat);
  UNIPC_EXPORT(exports, "shmctlStat", ShmctlStat);
  UNIPC_EXPORT(exports, "shmctlSet", ShmctlSet);
  UNIPC_EXPORT(exports, "shmctlRemove", ShmctlRemove);

  Napi::Object c = ConstantsOf(exports);
  UNIPC_CONSTANT(c, IPC_PRIVATE);
  UNIPC_CONSTANT(c, IPC_CREAT);
  UNIPC_CONSTANT(c, IPC_EXCL);
  UNIPC_CONSTANT(c, SHM_RDONLY);
  UNIPC_CONSTANT(c, SHM_DEST);
  UNIPC_CONSTANT(c, SHM_LOCKED);
  c.Set("SHMCTL_STAT_FIELDS", Napi::Number::New(env, kStatFields));
}

}  // namespace unipc
