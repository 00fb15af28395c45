// Descriptor-level calls: close, read, write, poll, fcntl (leases too), extended attributes, and the socket messages
// that carry descriptors (SCM_RIGHTS) and credentials (SCM_CREDENTIALS, SO_PEERCRED).
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <uv.h>

#include <cstring>

#include "common.h"

namespace unipc {
namespace {

// The kernel's limit on descriptors in one SCM_RIGHTS message (SCM_MAX_FD in include/net/scm.h).
constexpr int kMaxFdsPerMessage = 253;

// Layout of the recvmsg meta array: [msgFlags, fdCount, hasCredentials, pid, uid, gid, fd...]
constexpr int kMetaFlags = 0, kMetaFdCount = 1, kMetaHasCredentials = 2, kMetaPid = 3, kMetaUid = 4, kMetaGid = 5,
              kMetaFirstFd = 6;

// close(fd) → 0
Napi::Value Close(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(close(fd)));
}

// read(fd, buffer, offset, length) → bytes read (0 at end of file)
Napi::Value Read(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  ByteRange range = args.Bytes(1, 2, 3);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(read(fd, range.data, range.length)));
}

// write(fd, buffer, offset, length) → bytes written
Napi::Value Write(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  ByteRange range = args.Bytes(1, 2, 3);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(write(fd, range.data, range.length)));
}

// poll(fd, events, timeoutMs) → revents, or 0 when the timeout passed
Napi::Value Poll(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  int events = args.Int32(1);
  int timeout_ms = args.Int32(2);
  if (!args.ok()) return info.Env().Undefined();
  struct pollfd p = {fd, static_cast<short>(events), 0};
  int r = poll(&p, 1, timeout_ms);
  return Result(info.Env(), r > 0 ? p.revents : SyscallResult(r));
}

// fcntl(fd, cmd, arg) → the command's result
Napi::Value Fcntl(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  int cmd = args.Int32(1);
  int arg = args.Int32(2);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(fcntl(fd, cmd, arg)));
}

// fstat(fd, out: Float64Array(6)) → 0; out = [mode, size, dev, ino, uid, gid]. Node's fs.fstatSync is no
// substitute: Deno's takes its own resource ids, not descriptors. Made with statx(2), not fstat(2): glibc
// 2.33 turned fstat into a function of its own version, past the 2.28 floor (compat.h); statx is 2.28's.
Napi::Value Fstat(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  constexpr size_t kFields = 6;
  ByteRange out = args.Float64Out(1, kFields, "fstat");
  if (!args.ok()) return info.Env().Undefined();
  struct statx st {};
  if (statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &st) != 0) return Result(info.Env(), -errno);
  // The device number as glibc's makedev() and libuv (which fs.statSync uses) make it from statx.
  uint64_t major = st.stx_dev_major, minor = st.stx_dev_minor;
  uint64_t dev =
      ((major & 0xfffff000u) << 32) | ((major & 0xfffu) << 8) | ((minor & 0xffffff00u) << 12) | (minor & 0xffu);
  double fields[kFields] = {static_cast<double>(st.stx_mode), static_cast<double>(st.stx_size),
                            static_cast<double>(dev),         static_cast<double>(st.stx_ino),
                            static_cast<double>(st.stx_uid),  static_cast<double>(st.stx_gid)};
  std::memcpy(out.data, fields, sizeof(fields));
  return Result(info.Env(), 0);
}

// fchmod(fd, mode) → 0
Napi::Value Fchmod(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  uint32_t mode = args.Uint32(1);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(fchmod(fd, static_cast<mode_t>(mode))));
}

// readlink(path, out) → the target's length (cut at out's length, as readlink(2) cuts it). Node's
// fs.readlinkSync is no substitute: Deno's asks for --allow-all before it reads /proc/self/fd.
Napi::Value Readlink(const Napi::CallbackInfo& info) {
  Args args(info);
  std::string path = args.String(0);
  ByteRange out = args.Bytes(1);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(readlink(path.c_str(), reinterpret_cast<char*>(out.data), out.length)));
}

// fgetxattr(fd, name, out) → the value's length; ERANGE when it does not fit in out
Napi::Value Fgetxattr(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  std::string name = args.String(1);
  ByteRange out = args.Bytes(2);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(fgetxattr(fd, name.c_str(), out.data, out.length)));
}

// fsetxattr(fd, name, value, flags) → 0
Napi::Value Fsetxattr(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  std::string name = args.String(1);
  ByteRange value = args.Bytes(2);
  int flags = args.Int32(3);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(fsetxattr(fd, name.c_str(), value.data, value.length, flags)));
}

// sendmsg(fd, buffer, offset, length, fds: Int32Array | null, flags) → bytes sent
Napi::Value Sendmsg(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  ByteRange range = args.Bytes(1, 2, 3);
  size_t fd_count = 0;
  int32_t* fds = args.IsNullish(4) ? nullptr : args.Int32Out(4, 0, &fd_count);
  int flags = args.Int32(5);
  if (!args.ok()) return info.Env().Undefined();
  if (fd_count > static_cast<size_t>(kMaxFdsPerMessage)) return Result(info.Env(), -ETOOMANYREFS);

  struct iovec iov = {range.data, range.length};
  struct msghdr message {};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
  if (fd_count > 0) {
    message.msg_control = control;
    message.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
    struct cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
    std::memcpy(CMSG_DATA(header), fds, sizeof(int) * fd_count);
  }
  return Result(info.Env(), SyscallResult(sendmsg(fd, &message, flags)));
}

// recvmsg(fd, buffer, offset, length, flags, meta: Int32Array) → bytes received.
// Descriptors that do not fit in meta are closed and MSG_CTRUNC is reported: none ever leaks.
Napi::Value Recvmsg(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  ByteRange range = args.Bytes(1, 2, 3);
  int flags = args.Int32(4);
  size_t meta_length = 0;
  int32_t* meta = args.Int32Out(5, kMetaFirstFd, &meta_length);
  if (!args.ok()) return info.Env().Undefined();
  size_t fd_room = meta_length - kMetaFirstFd;

  struct iovec iov = {range.data, range.length};
  struct msghdr message {};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage) + CMSG_SPACE(sizeof(struct ucred))];
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
  ssize_t n = recvmsg(fd, &message, flags);
  if (n < 0) return Result(info.Env(), SyscallResult(n));

  int msg_flags = message.msg_flags;
  size_t fd_count = 0;
  meta[kMetaHasCredentials] = 0;
  for (struct cmsghdr* h = CMSG_FIRSTHDR(&message); h != nullptr; h = CMSG_NXTHDR(&message, h)) {
    if (h->cmsg_level != SOL_SOCKET) continue;
    if (h->cmsg_type == SCM_RIGHTS) {
      size_t count = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t k = 0; k < count; k++) {
        int received;
        std::memcpy(&received, CMSG_DATA(h) + k * sizeof(int), sizeof(int));
        if (fd_count < fd_room) {
          meta[kMetaFirstFd + fd_count++] = received;
        } else {
          close(received);
          msg_flags |= MSG_CTRUNC;
        }
      }
    } else if (h->cmsg_type == SCM_CREDENTIALS) {
      struct ucred credentials;
      std::memcpy(&credentials, CMSG_DATA(h), sizeof(credentials));
      meta[kMetaHasCredentials] = 1;
      meta[kMetaPid] = credentials.pid;
      meta[kMetaUid] = static_cast<int32_t>(credentials.uid);
      meta[kMetaGid] = static_cast<int32_t>(credentials.gid);
    }
  }
  meta[kMetaFlags] = msg_flags;
  meta[kMetaFdCount] = static_cast<int32_t>(fd_count);
  return Result(info.Env(), n);
}

// peerCredentials(fd, out: Int32Array(3)) → 0; out = [pid, uid, gid] (SO_PEERCRED)
Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  int32_t* out = args.Int32Out(1, 3);
  if (!args.ok()) return info.Env().Undefined();
  struct ucred credentials;
  socklen_t length = sizeof(credentials);
  int r = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length);
  if (r == 0) {
    out[0] = credentials.pid;
    out[1] = static_cast<int32_t>(credentials.uid);
    out[2] = static_cast<int32_t>(credentials.gid);
  }
  return Result(info.Env(), SyscallResult(r));
}

// getsockoptInt(fd, level, name) → the option's value (an int option)
Napi::Value GetsockoptInt(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  int level = args.Int32(1);
  int name = args.Int32(2);
  if (!args.ok()) return info.Env().Undefined();
  int value = 0;
  socklen_t length = sizeof(value);
  int r = getsockopt(fd, level, name, &value, &length);
  return Result(info.Env(), r == 0 ? value : SyscallResult(r));
}

// setsockoptInt(fd, level, name, value) → 0
Napi::Value SetsockoptInt(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  int level = args.Int32(1);
  int name = args.Int32(2);
  int value = args.Int32(3);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(setsockopt(fd, level, name, &value, sizeof(value))));
}

}  // namespace

void InitFd(Napi::Env env, Napi::Object exports) {
  UNIPC_EXPORT(exports, "close", Close);
  UNIPC_EXPORT(exports, "read", Read);
  UNIPC_EXPORT(exports, "write", Write);
  UNIPC_EXPORT(exports, "poll", Poll);
  UNIPC_EXPORT(exports, "fcntl", Fcntl);
  UNIPC_EXPORT(exports, "fstat", Fstat);
  UNIPC_EXPORT(exports, "fchmod", Fchmod);
  UNIPC_EXPORT(exports, "readlink", Readlink);
  UNIPC_EXPORT(exports, "fgetxattr", Fgetxattr);
  UNIPC_EXPORT(exports, "fsetxattr", Fsetxattr);
  UNIPC_EXPORT(exports, "sendmsg", Sendmsg);
  UNIPC_EXPORT(exports, "recvmsg", Recvmsg);
  UNIPC_EXPORT(exports, "peerCredentials", PeerCredentials);
  UNIPC_EXPORT(exports, "getsockoptInt", GetsockoptInt);
  UNIPC_EXPORT(exports, "setsockoptInt", SetsockoptInt);

  Napi::Object c = ConstantsOf(exports);
  UNIPC_CONSTANT(c, F_GETFD);
  UNIPC_CONSTANT(c, F_SETFD);
  UNIPC_CONSTANT(c, F_GETFL);
  UNIPC_CONSTANT(c, F_SETFL);
  UNIPC_CONSTANT(c, F_DUPFD_CLOEXEC);
  UNIPC_CONSTANT(c, F_GETPIPE_SZ);
  UNIPC_CONSTANT(c, F_SETPIPE_SZ);
  UNIPC_CONSTANT(c, FD_CLOEXEC);
  UNIPC_CONSTANT(c, O_ACCMODE);
  UNIPC_CONSTANT(c, F_SETLEASE);
  UNIPC_CONSTANT(c, F_SETSIG);
  UNIPC_CONSTANT(c, F_WRLCK);
  UNIPC_CONSTANT(c, F_UNLCK);
  UNIPC_CONSTANT(c, PIPE_BUF);
  UNIPC_CONSTANT(c, POLLIN);
  UNIPC_CONSTANT(c, POLLOUT);
  UNIPC_CONSTANT(c, POLLERR);
  UNIPC_CONSTANT(c, POLLHUP);
  UNIPC_CONSTANT(c, POLLNVAL);
  UNIPC_CONSTANT(c, POLLRDHUP);
  UNIPC_CONSTANT(c, UV_READABLE);
  UNIPC_CONSTANT(c, UV_WRITABLE);
  UNIPC_CONSTANT(c, UV_DISCONNECT);
  UNIPC_CONSTANT(c, MSG_DONTWAIT);
  UNIPC_CONSTANT(c, MSG_NOSIGNAL);
  UNIPC_CONSTANT(c, MSG_PEEK);
  UNIPC_CONSTANT(c, MSG_TRUNC);
  UNIPC_CONSTANT(c, MSG_CTRUNC);
  UNIPC_CONSTANT(c, MSG_CMSG_CLOEXEC);
  UNIPC_CONSTANT(c, SOL_SOCKET);
  UNIPC_CONSTANT(c, SO_TYPE);
  UNIPC_CONSTANT(c, SO_DOMAIN);
  UNIPC_CONSTANT(c, SO_ERROR);
  UNIPC_CONSTANT(c, SO_SNDBUF);
  UNIPC_CONSTANT(c, SO_RCVBUF);
  UNIPC_CONSTANT(c, SO_PASSCRED);
  c.Set("SCM_MAX_FD", Napi::Number::New(env, kMaxFdsPerMessage));

  // The errnos IPC calls report, straight from <errno.h>: os.constants.errno lacks some of them.
  Napi::Object e = Napi::Object::New(env);
  UNIPC_CONSTANT(e, EPERM);
  UNIPC_CONSTANT(e, ENOENT);
  UNIPC_CONSTANT(e, EINTR);
  UNIPC_CONSTANT(e, EBADF);
  UNIPC_CONSTANT(e, EAGAIN);
  UNIPC_CONSTANT(e, ENOMEM);
  UNIPC_CONSTANT(e, EACCES);
  UNIPC_CONSTANT(e, EFAULT);
  UNIPC_CONSTANT(e, EEXIST);
  UNIPC_CONSTANT(e, EINVAL);
  UNIPC_CONSTANT(e, ENFILE);
  UNIPC_CONSTANT(e, EMFILE);
  UNIPC_CONSTANT(e, EFBIG);
  UNIPC_CONSTANT(e, ENOSPC);
  UNIPC_CONSTANT(e, EPIPE);
  UNIPC_CONSTANT(e, ERANGE);
  UNIPC_CONSTANT(e, E2BIG);
  UNIPC_CONSTANT(e, EDEADLK);
  UNIPC_CONSTANT(e, ENAMETOOLONG);
  UNIPC_CONSTANT(e, ENOSYS);
  UNIPC_CONSTANT(e, ENOMSG);
  UNIPC_CONSTANT(e, EIDRM);
  UNIPC_CONSTANT(e, EOVERFLOW);
  UNIPC_CONSTANT(e, ENOTSOCK);
  UNIPC_CONSTANT(e, EMSGSIZE);
  UNIPC_CONSTANT(e, EPROTOTYPE);
  UNIPC_CONSTANT(e, ENOTSUP);
  UNIPC_CONSTANT(e, ENODATA);
  UNIPC_CONSTANT(e, EADDRINUSE);
  UNIPC_CONSTANT(e, ECONNREFUSED);
  UNIPC_CONSTANT(e, ETOOMANYREFS);
  UNIPC_CONSTANT(e, ETIMEDOUT);
  UNIPC_CONSTANT(e, ECANCELED);
  UNIPC_CONSTANT(e, EOWNERDEAD);
  UNIPC_CONSTANT(e, ENOTRECOVERABLE);
  exports.Set("errno", e);
  c.Set("RECVMSG_META_FIRST_FD", Napi::Number::New(env, kMetaFirstFd));
}

}  // namespace unipc
