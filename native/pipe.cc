// The pipe family: pipe, FIFOs (mkfifo and the open that waits for the other side), Unix sockets.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

#include "common.h"
#include "wait.h"

namespace unipc {
namespace {

// pipe2(out: Int32Array(2), flags) → 0; out = [readFd, writeFd]
Napi::Value Pipe2(const Napi::CallbackInfo& info) {
  Args args(info);
  int32_t* out = args.Int32Out(0, 2);
  int flags = args.Int32(1);
  if (!args.ok()) return info.Env().Undefined();
  int fds[2];
  int r = pipe2(fds, flags);
  if (r == 0) {
    out[0] = fds[0];
    out[1] = fds[1];
  }
  return Result(info.Env(), SyscallResult(r));
}

// mkfifo(path, mode) → 0
Napi::Value Mkfifo(const Napi::CallbackInfo& info) {
  Args args(info);
  std::string path = args.String(0);
  int mode = args.Int32(1);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(mkfifo(path.c_str(), static_cast<mode_t>(mode))));
}

BlockingCall OpenCall(std::string path, int flags, int mode) {
  return [path = std::move(path), flags, mode]() -> int64_t {
    return SyscallResult(open(path.c_str(), flags, static_cast<mode_t>(mode)));
  };
}

// open(path, flags, mode, timeoutMs) → fd. Opening a FIFO blocks until the other side opens it.
Napi::Value Open(const Napi::CallbackInfo& info) {
  Args args(info);
  std::string path = args.String(0);
  int flags = args.Int32(1);
  int mode = args.Int32(2);
  double timeout_ms = args.Double(3);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), RunSync(OpenCall(std::move(path), flags, mode), timeout_ms));
}

// openAsync(path, flags, mode, callback(fd)) → wait id
Napi::Value OpenAsync(const Napi::CallbackInfo& info) {
  Args args(info);
  std::string path = args.String(0);
  int flags = args.Int32(1);
  int mode = args.Int32(2);
  Napi::Function callback = args.Function(3);
  if (!args.ok()) return info.Env().Undefined();
  return StartWait(info.Env(), OpenCall(std::move(path), flags, mode), callback,
                   [](int64_t fd) { close(static_cast<int>(fd)); });
}

// socketpair(type, out: Int32Array(2)) → 0, in the AF_UNIX domain; type may carry SOCK_CLOEXEC.
Napi::Value Socketpair(const Napi::CallbackInfo& info) {
  Args args(info);
  int type = args.Int32(0);
  int32_t* out = args.Int32Out(1, 2);
  if (!args.ok()) return info.Env().Undefined();
  int fds[2];
  int r = socketpair(AF_UNIX, type, 0, fds);
  if (r == 0) {
    out[0] = fds[0];
    out[1] = fds[1];
  }
  return Result(info.Env(), SyscallResult(r));
}

// socket(type) → fd, in the AF_UNIX domain.
Napi::Value Socket(const Napi::CallbackInfo& info) {
  Args args(info);
  int type = args.Int32(0);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(socket(AF_UNIX, type, 0)));
}

// Fills a Unix address from a path; a path starting with NUL names the abstract namespace.
bool UnixAddress(const std::string& path, sockaddr_un* address, socklen_t* length) {
  std::memset(address, 0, sizeof(*address));
  address->sun_family = AF_UNIX;
  bool abstract = !path.empty() && path[0] == '\0';
  size_t room = sizeof(address->sun_path) - (abstract ? 0 : 1);
  if (path.size() > room) return false;
  std::memcpy(address->sun_path, path.data(), path.size());
  *length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
  return true;
}

// bind(fd, path) → 0
Napi::Value Bind(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  std::string path = args.String(1);
  if (!args.ok()) return info.Env().Undefined();
  sockaddr_un address;
  socklen_t length;
  if (!UnixAddress(path, &address, &length)) return Result(info.Env(), -ENAMETOOLONG);
  return Result(info.Env(), SyscallResult(bind(fd, reinterpret_cast<sockaddr*>(&address), length)));
}

BlockingCall ConnectCall(int fd, const sockaddr_un& address, socklen_t length) {
  return [fd, address, length]() -> int64_t {
    return SyscallResult(connect(fd, reinterpret_cast<const sockaddr*>(&address), length));
  };
}

// connect(fd, path, timeoutMs) → 0. On a blocking socket it waits while the listener's backlog is full
// (AF_UNIX reports that with EAGAIN, not through poll, so the waiting needs a thread).
Napi::Value Connect(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  std::string path = args.String(1);
  double timeout_ms = args.Double(2);
  if (!args.ok()) return info.Env().Undefined();
  sockaddr_un address;
  socklen_t length;
  if (!UnixAddress(path, &address, &length)) return Result(info.Env(), -ENAMETOOLONG);
  return Result(info.Env(), RunSync(ConnectCall(fd, address, length), timeout_ms));
}

// connectAsync(fd, path, callback(result)) → wait id
Napi::Value ConnectAsync(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  std::string path = args.String(1);
  Napi::Function callback = args.Function(2);
  if (!args.ok()) return info.Env().Undefined();
  sockaddr_un address;
  socklen_t length;
  if (!UnixAddress(path, &address, &length)) return Result(info.Env(), -ENAMETOOLONG);
  return StartWait(info.Env(), ConnectCall(fd, address, length), callback);
}

// shutdown(fd, how) → 0
Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  int how = args.Int32(1);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(shutdown(fd, how)));
}

// listen(fd, backlog) → 0
Napi::Value Listen(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  int backlog = args.Int32(1);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(listen(fd, backlog)));
}

// accept4(fd, flags) → fd of the accepted connection
Napi::Value Accept4(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  int flags = args.Int32(1);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(accept4(fd, nullptr, nullptr, flags)));
}

}  // namespace

void InitPipe(Napi::Env env, Napi::Object exports) {
  UNIPC_EXPORT(exports, "pipe2", Pipe2);
  UNIPC_EXPORT(exports, "mkfifo", Mkfifo);
  UNIPC_EXPORT(exports, "open", Open);
  UNIPC_EXPORT(exports, "openAsync", OpenAsync);
  UNIPC_EXPORT(exports, "socketpair", Socketpair);
  UNIPC_EXPORT(exports, "socket", Socket);
  UNIPC_EXPORT(exports, "bind", Bind);
  UNIPC_EXPORT(exports, "connect", Connect);
  UNIPC_EXPORT(exports, "connectAsync", ConnectAsync);
  UNIPC_EXPORT(exports, "shutdown", Shutdown);
  UNIPC_EXPORT(exports, "listen", Listen);
  UNIPC_EXPORT(exports, "accept4", Accept4);

  Napi::Object c = ConstantsOf(exports);
  UNIPC_CONSTANT(c, O_RDONLY);
  UNIPC_CONSTANT(c, O_WRONLY);
  UNIPC_CONSTANT(c, O_RDWR);
  UNIPC_CONSTANT(c, O_CREAT);
  UNIPC_CONSTANT(c, O_EXCL);
  UNIPC_CONSTANT(c, O_TRUNC);
  UNIPC_CONSTANT(c, O_NONBLOCK);
  UNIPC_CONSTANT(c, O_CLOEXEC);
  UNIPC_CONSTANT(c, O_NOCTTY);
  UNIPC_CONSTANT(c, SOCK_STREAM);
  UNIPC_CONSTANT(c, SOCK_DGRAM);
  UNIPC_CONSTANT(c, SOCK_SEQPACKET);
  UNIPC_CONSTANT(c, SOCK_CLOEXEC);
  UNIPC_CONSTANT(c, SOCK_NONBLOCK);
  UNIPC_CONSTANT(c, SHUT_RD);
  UNIPC_CONSTANT(c, SHUT_WR);
  UNIPC_CONSTANT(c, SHUT_RDWR);
  UNIPC_CONSTANT(c, AF_UNIX);
  UNIPC_CONSTANT(c, SOMAXCONN);
  c.Set("UNIX_PATH_MAX", Napi::Number::New(env, sizeof(sockaddr_un::sun_path)));
}

}  // namespace unipc
