// POSIX message queues: mq_open, mq_send, mq_receive, mq_getattr, mq_unlink. On Linux a queue
// descriptor is a file descriptor the kernel can poll, so TypeScript opens it O_NONBLOCK and waits for
// readiness with uv_poll like a pipe: no thread, and these calls never block.
#include <fcntl.h>
#include <mqueue.h>
#include <unistd.h>

#include <cstring>

#include "common.h"

namespace unipc {
namespace {

// mqOpen(name, flags, mode, maxMessages, messageSize) → descriptor. Attributes are passed only when
// maxMessages > 0 (otherwise a new queue gets the system's defaults). The kernel sets close-on-exec.
Napi::Value MqOpen(const Napi::CallbackInfo& info) {
  Args args(info);
  std::string name = args.String(0);
  int flags = args.Int32(1);
  int mode = args.Int32(2);
  int64_t max_messages = args.Int64(3);
  int64_t message_size = args.Int64(4);
  if (!args.ok()) return info.Env().Undefined();
  struct mq_attr attr {};
  attr.mq_maxmsg = static_cast<long>(max_messages);
  attr.mq_msgsize = static_cast<long>(message_size);
  mqd_t q = mq_open(name.c_str(), flags, static_cast<mode_t>(mode), max_messages > 0 ? &attr : nullptr);
  return Result(info.Env(), SyscallResult(static_cast<int64_t>(q)));
}

// mqUnlink(name) → 0
Napi::Value MqUnlink(const Napi::CallbackInfo& info) {
  Args args(info);
  std::string name = args.String(0);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(mq_unlink(name.c_str())));
}

// mqSend(fd, buffer, offset, length, priority) → 0
Napi::Value MqSend(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  ByteRange range = args.Bytes(1, 2, 3);
  uint32_t priority = args.Uint32(4);
  if (!args.ok()) return info.Env().Undefined();
  const char* data = range.data == nullptr ? "" : reinterpret_cast<const char*>(range.data);
  return Result(info.Env(), SyscallResult(mq_send(fd, data, range.length, priority)));
}

// mqReceive(fd, buffer, offset, length, out: Int32Array(1)) → bytes; out = [priority]
Napi::Value MqReceive(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  ByteRange range = args.Bytes(1, 2, 3);
  int32_t* out = args.Int32Out(4, 1);
  if (!args.ok()) return info.Env().Undefined();
  unsigned priority = 0;
  ssize_t n = mq_receive(fd, reinterpret_cast<char*>(range.data), range.length, &priority);
  if (n >= 0) out[0] = static_cast<int32_t>(priority);
  return Result(info.Env(), SyscallResult(n));
}

// mqGetattr(fd, out: Float64Array(4)) → 0; out = [flags, maxmsg, msgsize, curmsgs]
Napi::Value MqGetattr(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  constexpr size_t kFields = 4;
  ByteRange out = args.Float64Out(1, kFields, "mqGetattr");
  if (!args.ok()) return info.Env().Undefined();
  struct mq_attr attr {};
  if (mq_getattr(fd, &attr) != 0) return Result(info.Env(), -errno);
  double fields[kFields] = {static_cast<double>(attr.mq_flags), static_cast<double>(attr.mq_maxmsg),
                            static_cast<double>(attr.mq_msgsize), static_cast<double>(attr.mq_curmsgs)};
  std::memcpy(out.data, fields, sizeof(fields));
  return Result(info.Env(), 0);
}

}  // namespace

void InitMq(Napi::Env env, Napi::Object exports) {
  UNIPC_EXPORT(exports, "mqOpen", MqOpen);
  UNIPC_EXPORT(exports, "mqUnlink", MqUnlink);
  UNIPC_EXPORT(exports, "mqSend", MqSend);
  UNIPC_EXPORT(exports, "mqReceive", MqReceive);
  UNIPC_EXPORT(exports, "mqGetattr", MqGetattr);

  Napi::Object c = ConstantsOf(exports);
  long prio_max = sysconf(_SC_MQ_PRIO_MAX);
  c.Set("MQ_PRIO_MAX", Napi::Number::New(env, static_cast<double>(prio_max > 0 ? prio_max : 32768)));
}

}  // namespace unipc
