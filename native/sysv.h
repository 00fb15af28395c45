// Shared by the System V families: the ipc_perm part of IPC_STAT outputs and of IPC_SET inputs.
#pragma once

#include <sys/ipc.h>

#include <cstdint>

namespace unipc {

// A native IPC_STAT output array starts with the ipc_perm: key, uid, gid, cuid, cgid, mode, seq.
constexpr int kPermFields = 7;

inline void PermFields(const struct ipc_perm& perm, double* fields) {
  fields[0] = static_cast<double>(static_cast<uint32_t>(perm.__key));  // as ipcs shows it
  fields[1] = perm.uid;
  fields[2] = perm.gid;
  fields[3] = perm.cuid;
  fields[4] = perm.cgid;
  fields[5] = perm.mode;
  fields[6] = perm.__seq;
}

// IPC_SET reads only these three fields of the ipc_perm.
inline void SetPerm(struct ipc_perm* perm, uint32_t uid, uint32_t gid, int mode) {
  perm->uid = uid;
  perm->gid = gid;
  perm->mode = static_cast<unsigned short>(mode);
}

}  // namespace unipc
