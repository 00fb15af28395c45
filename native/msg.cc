// System V message queues: msgget, msgsnd, msgrcv, msgctl. A message travels as C's
// `struct msgbuf { long mtype; char mtext[]; }`, so the bytes are exactly what a C program sends or gets.
//
// msgsnd/msgrcv have no descriptor to poll: the Promise forms of TypeScript try IPC_NOWAIT first (on the
// JavaScript thread) and only then block on a waiter thread (StartWait), cancellable by the wake signal,
// which makes the call return EINTR without sending or taking anything.
#include <sys/ipc.h>
#include <sys/msg.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <vector>

#include "common.h"
#include "sysv.h"
#include "wait.h"

namespace unipc {
namespace {

// A message type or selector: a C long, given as a Number (exact) or a BigInt. Throws a TypeError when it
// is neither or does not fit (TypeScript validated it; this only guards against a bug there).
bool LongArg(const Napi::CallbackInfo& info, size_t i, long* out) {
  Napi::Value value = info[i];
  double number = 0;
  int64_t big = 0;
  bool lossless = false;
  // A Number first, with the call that is also its type check (the usual case); else a BigInt.
  if (napi_get_value_double(info.Env(), value, &number) == napi_ok) {
    if (std::trunc(number) == number && number >= -9007199254740991.0 && number <= 9007199254740991.0 &&
        number >= static_cast<double>(LONG_MIN) && number <= static_cast<double>(LONG_MAX)) {
      *out = static_cast<long>(number);
      return true;
    }
  } else if (napi_get_value_bigint_int64(info.Env(), value, &big, &lossless) == napi_ok) {
    if (lossless && big >= LONG_MIN && big <= LONG_MAX) {
      *out = static_cast<long>(big);
      return true;
    }
  }
  Napi::TypeError::New(info.Env(), "unipc native call: argument " + std::to_string(i) + " must be a C long")
      .ThrowAsJavaScriptException();
  return false;
}

// A whole msgbuf (mtype, then the text) in memory of its own, for a send that may outlive the call.
using MessageBuffer = std::shared_ptr<std::vector<char>>;

// Lays out a msgbuf in `message`, which must hold sizeof(long) + text.length bytes.
void FillMessage(char* message, long type, const ByteRange& text) {
  std::memcpy(message, &type, sizeof(long));
  if (text.length > 0) std::memcpy(message + sizeof(long), text.data, text.length);
}

// (A lambda, not a BlockingCall: RunSync() calls it as it is, without a std::function's allocation.)
auto SendCall(int id, const char* message, size_t length, int flags) {
  return [id, message, length, flags]() -> int64_t { return SyscallResult(msgsnd(id, message, length, flags)); };
}

// msgget(key, flags) → id
Napi::Value Msgget(const Napi::CallbackInfo& info) {
  Args args(info);
  int key = args.Int32(0);
  int flags = args.Int32(1);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(msgget(key, flags)));
}

// msgsnd(id, type, data, flags, timeoutMs) → 0; `data` (a view or ArrayBuffer) is the text, whole. A
// negative timeout blocks the calling thread (retrying after EINTR); otherwise the call runs on a waiter
// thread and gives -ETIMEDOUT unless it completed in time. The msgbuf is assembled in a per-thread buffer:
// the JavaScript thread waits for it. (Six arguments at most, here and below: node-addon-api reads more
// than six into an array it allocates on the heap, a cost on every call of a hot path.)
Napi::Value Msgsnd(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  long type = 0;
  if (args.ok() && !LongArg(info, 1, &type)) return info.Env().Undefined();
  ByteRange text = args.Bytes(2);
  int flags = args.Int32(3);
  double timeout_ms = args.Double(4);
  if (!args.ok()) return info.Env().Undefined();
  thread_local std::vector<char> message;
  if (message.size() < sizeof(long) + text.length) message.resize(sizeof(long) + text.length);
  FillMessage(message.data(), type, text);
  return Result(info.Env(), RunSync(SendCall(id, message.data(), text.length, flags), timeout_ms));
}

// msgsndAsync(id, type, data, flags, callback(result)) → wait id. The message is copied now: it is sent
// as it was at the call, whatever happens to the caller's buffer meanwhile.
Napi::Value MsgsndAsync(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  long type = 0;
  if (args.ok() && !LongArg(info, 1, &type)) return info.Env().Undefined();
  ByteRange text = args.Bytes(2);
  int flags = args.Int32(3);
  Napi::Function callback = args.Function(4);
  if (!args.ok()) return info.Env().Undefined();
  auto message = MakeShared<std::vector<char>>(sizeof(long) + text.length);
  FillMessage(message->data(), type, text);
  BlockingCall send = SendCall(id, message->data(), text.length, flags);
  return StartWait(
      info.Env(), [message, send]() { return send(); }, callback);
}

auto ReceiveCall(int id, char* buffer, size_t length, long type, int flags) {
  return
      [id, buffer, length, type, flags]() -> int64_t { return SyscallResult(msgrcv(id, buffer, length, type, flags)); };
}

// msgrcv(id, buffer, length, type, flags, timeoutMs) → bytes of text. `buffer` (an ArrayBuffer or view)
// receives the whole msgbuf: mtype in its first sizeof(long) bytes, then at most `length` bytes of text.
// The timeout works as for msgsnd; the buffer is the caller's, who is blocked until the call is done.
Napi::Value Msgrcv(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  ByteRange buffer = args.Bytes(1);
  double length = args.Double(2);
  long type = 0;
  if (args.ok() && !LongArg(info, 3, &type)) return info.Env().Undefined();
  int flags = args.Int32(4);
  double timeout_ms = args.Double(5);
  if (!args.ok()) return info.Env().Undefined();
  if (length < 0 || sizeof(long) + length > buffer.length) {
    Napi::TypeError::New(info.Env(), "unipc native call: msgrcv buffer too small").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  char* data = reinterpret_cast<char*>(buffer.data);
  return Result(info.Env(), RunSync(ReceiveCall(id, data, static_cast<size_t>(length), type, flags), timeout_ms));
}

// msgrcvAsync(id, length, type, flags, callback(result)) → { wait, buffer } or -errno. The msgbuf is
// received into memory the addon owns, shared by the waiter thread and `buffer` (an ArrayBuffer over it):
// a message taken just before a cancellation could reach the call still reaches JavaScript.
Napi::Value MsgrcvAsync(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  uint32_t length = args.Uint32(1);
  long type = 0;
  if (args.ok() && !LongArg(info, 2, &type)) return info.Env().Undefined();
  int flags = args.Int32(3);
  Napi::Function callback = args.Function(4);
  if (!args.ok()) return info.Env().Undefined();
  Napi::Env env = info.Env();
  MessageBuffer memory = MakeShared<std::vector<char>>(sizeof(long) + length);
  auto* holder = new MessageBuffer(memory);
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
      env, memory->data(), memory->size(), [](Napi::Env, void*, MessageBuffer* hint) { delete hint; }, holder);
  BlockingCall receive = ReceiveCall(id, memory->data(), length, type, flags);
  Napi::Value wait = StartWait(
      env, [memory, receive]() { return receive(); }, callback);
  if (wait.As<Napi::Number>().DoubleValue() < 0) return wait;
  Napi::Object result = Napi::Object::New(env);
  result.Set("wait", wait);
  result.Set("buffer", buffer);
  return result;
}

// Copies a received msgbuf out: its text to `text` (which holds at least `length` bytes), its mtype's bytes
// to `type_out` (as many as fit: sizeof(long) in an Int32Array(2) on 64-bit Linux).
void CopyMessageOut(const char* message, size_t length, uint8_t* text, const ByteRange& type_out) {
  if (length > 0) std::memcpy(text, message + sizeof(long), length);
  std::memcpy(type_out.data, message, std::min(sizeof(long), type_out.length));
}

// msgrcvInto(id, target, type, flags, typeOut: Int32Array(2), timeoutMs) → bytes of text. The message's
// text goes to `target` (a view, whole: at most its length is received), its mtype to typeOut. msgrcv
// needs the mtype in front of the text, so the msgbuf lands in a scratch buffer of this thread first. The
// timeout works as for msgsnd; the JavaScript thread is blocked until the call is done.
Napi::Value MsgrcvInto(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  ByteRange text = args.Bytes(1);
  long type = 0;
  if (args.ok() && !LongArg(info, 2, &type)) return info.Env().Undefined();
  int flags = args.Int32(3);
  int32_t* type_out = args.Int32Out(4, 2);
  double timeout_ms = args.Double(5);
  if (!args.ok()) return info.Env().Undefined();
  thread_local std::vector<char> scratch;
  if (scratch.size() < sizeof(long) + text.length) scratch.resize(sizeof(long) + text.length);
  int64_t r = RunSync(ReceiveCall(id, scratch.data(), text.length, type, flags), timeout_ms);
  if (r >= 0) {
    CopyMessageOut(scratch.data(), static_cast<size_t>(r), text.data,
                   {reinterpret_cast<uint8_t*>(type_out), 2 * sizeof(int32_t)});
  }
  return Result(info.Env(), r);
}

// msgrcvIntoAsync(id, target, type, flags, typeOut: Int32Array(2), callback(result)) → wait id. The
// waiter thread receives into memory of the call's own; the text is copied into `target` (and the mtype
// into typeOut) on the JavaScript thread, just before the callback, and only if the call succeeded:
// nothing ever writes the caller's memory from another thread, or after a cancellation was reported.
// Both are held by references until then. A target detached meanwhile (its Mapping closed) gets nothing:
// the result is then -EBADF, which msgrcv itself never returns, so TypeScript can say the message was lost.
Napi::Value MsgrcvIntoAsync(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  ByteRange text = args.Bytes(1);
  long type = 0;
  if (args.ok() && !LongArg(info, 2, &type)) return info.Env().Undefined();
  int flags = args.Int32(3);
  args.Int32Out(4, 2);
  Napi::Function callback = args.Function(5);
  if (!args.ok()) return info.Env().Undefined();
  size_t length = text.length;
  MessageBuffer memory = MakeShared<std::vector<char>>(sizeof(long) + length);
  auto target = MakeShared<Napi::ObjectReference>(Napi::Persistent(info[1].As<Napi::Object>()));
  auto type_out = MakeShared<Napi::ObjectReference>(Napi::Persistent(info[4].As<Napi::Object>()));
  BlockingCall receive = ReceiveCall(id, memory->data(), length, type, flags);
  Deliver deliver = [memory, target, type_out, length](Napi::Env env, int64_t result) -> int64_t {
    if (result < 0) return result;
    ByteRange now{nullptr, 0};
    ByteRange out{nullptr, 0};
    if (!ViewBytes(env, target->Value(), &now) || now.length < length) return -EBADF;
    if (!ViewBytes(env, type_out->Value(), &out)) return -EBADF;
    CopyMessageOut(memory->data(), static_cast<size_t>(result), now.data, out);
    return result;
  };
  return StartWait(
      info.Env(), [memory, receive]() { return receive(); }, callback, nullptr, std::move(deliver));
}

// Layout of the msgctlStat output array: the ipc_perm fields (sysv.h), then these.
enum StatField {
  kStatStime = kPermFields,
  kStatRtime,
  kStatCtime,
  kStatCbytes,
  kStatQnum,
  kStatQbytes,
  kStatLspid,
  kStatLrpid,
  kStatFields
};

// msgctlStat(id, out: Float64Array(15)) → 0 (IPC_STAT)
Napi::Value MsgctlStat(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  ByteRange out = args.Float64Out(1, kStatFields, "msgctlStat");
  if (!args.ok()) return info.Env().Undefined();
  struct msqid_ds stat;
  if (msgctl(id, IPC_STAT, &stat) != 0) return Result(info.Env(), -errno);
  double fields[kStatFields];
  PermFields(stat.msg_perm, fields);
  fields[kStatStime] = static_cast<double>(stat.msg_stime);
  fields[kStatRtime] = static_cast<double>(stat.msg_rtime);
  fields[kStatCtime] = static_cast<double>(stat.msg_ctime);
  fields[kStatCbytes] = static_cast<double>(stat.__msg_cbytes);
  fields[kStatQnum] = static_cast<double>(stat.msg_qnum);
  fields[kStatQbytes] = static_cast<double>(stat.msg_qbytes);
  fields[kStatLspid] = stat.msg_lspid;
  fields[kStatLrpid] = stat.msg_lrpid;
  std::memcpy(out.data, fields, sizeof(fields));
  return Result(info.Env(), 0);
}

// msgctlSet(id, uid, gid, mode, qbytes) → 0 (IPC_SET: the kernel reads only these four fields)
Napi::Value MsgctlSet(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  uint32_t uid = args.Uint32(1);
  uint32_t gid = args.Uint32(2);
  int mode = args.Int32(3);
  int64_t qbytes = args.Int64(4);
  if (!args.ok()) return info.Env().Undefined();
  struct msqid_ds stat {};
  SetPerm(&stat.msg_perm, uid, gid, mode);
  stat.msg_qbytes = static_cast<msglen_t>(qbytes);
  return Result(info.Env(), SyscallResult(msgctl(id, IPC_SET, &stat)));
}

// msgctlRemove(id) → 0 (IPC_RMID: blocked senders and receivers wake with EIDRM)
Napi::Value MsgctlRemove(const Napi::CallbackInfo& info) {
  Args args(info);
  int id = args.Int32(0);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(msgctl(id, IPC_RMID, nullptr)));
}

}  // namespace

void InitMsg(Napi::Env env, Napi::Object exports) {
  UNIPC_EXPORT(exports, "msgget", Msgget);
  UNIPC_EXPORT(exports, "msgsnd", Msgsnd);
  UNIPC_EXPORT(exports, "msgsndAsync", MsgsndAsync);
  UNIPC_EXPORT(exports, "msgrcv", Msgrcv);
  UNIPC_EXPORT(exports, "msgrcvAsync", MsgrcvAsync);
  UNIPC_EXPORT(exports, "msgrcvInto", MsgrcvInto);
  UNIPC_EXPORT(exports, "msgrcvIntoAsync", MsgrcvIntoAsync);
  UNIPC_EXPORT(exports, "msgctlStat", MsgctlStat);
  UNIPC_EXPORT(exports, "msgctlSet", MsgctlSet);
  UNIPC_EXPORT(exports, "msgctlRemove", MsgctlRemove);

  Napi::Object c = ConstantsOf(exports);
  UNIPC_CONSTANT(c, IPC_NOWAIT);
  UNIPC_CONSTANT(c, MSG_NOERROR);
  UNIPC_CONSTANT(c, MSG_EXCEPT);
  c.Set("SIZEOF_LONG", Napi::Number::New(env, sizeof(long)));
  c.Set("MSGCTL_STAT_FIELDS", Napi::Number::New(env, kStatFields));
}

}  // namespace unipc
