// Shared conventions of the native core.
//
// Every exported function wraps one system call and returns a Number: the call's result when it succeeds
// (>= 0) or the negated errno when it fails. TypeScript turns negative results into IpcError, so no
// error text, argument validation or API shape lives here. Arguments are type-checked only so that a
// bug in the TypeScript layer throws instead of touching wild memory.
#pragma once

#include <napi.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <utility>

namespace unipc {

inline Napi::Number Result(Napi::Env env, int64_t value) { return Napi::Number::New(env, static_cast<double>(value)); }

// The result of a libc call that returns -1 and sets errno.
inline int64_t SyscallResult(int64_t r) { return r < 0 ? -static_cast<int64_t>(errno) : r; }

struct ByteRange {
  uint8_t* data;
  size_t length;
};

// The bytes of a TypedArray, DataView or ArrayBuffer, as they are now (empty once detached); false for
// any other value. For code that holds a view across a wait and must find its memory again.
bool ViewBytes(napi_env env, napi_value value, ByteRange* out);

// Reads the arguments of one native call. The first type error throws a JavaScript TypeError (an
// internal error: TypeScript validated the user's values) and makes ok() false.
class Args {
 public:
  explicit Args(const Napi::CallbackInfo& info) : info_(info) {}

  Napi::Env Env() const { return info_.Env(); }
  bool ok() const { return ok_; }

  // Integers must be exact and in range: a value that would wrap (2**32 + 3 becoming descriptor 3)
  // is refused rather than converted.
  int32_t Int32(size_t i) { return static_cast<int32_t>(Integer(i, INT32_MIN, INT32_MAX)); }
  uint32_t Uint32(size_t i) { return static_cast<uint32_t>(Integer(i, 0, UINT32_MAX)); }
  int64_t Int64(size_t i) { return static_cast<int64_t>(Integer(i, -9007199254740991.0, 9007199254740991.0)); }
  // Any number but NaN.
  double Double(size_t i) {
    double value = 0;
    if (!Check(i, NumberAt(i, &value), "a number")) return 0;
    return Check(i, !std::isnan(value), "a number other than NaN") ? value : 0;
  }
  bool Bool(size_t i) {
    if (!Check(i, info_[i].IsBoolean(), "a boolean")) return false;
    return info_[i].As<Napi::Boolean>().Value();
  }
  std::string String(size_t i) {
    if (!Check(i, info_[i].IsString(), "a string")) return std::string();
    return info_[i].As<Napi::String>().Utf8Value();
  }
  Napi::Function Function(size_t i) {
    if (!Check(i, info_[i].IsFunction(), "a function")) return Napi::Function();
    return info_[i].As<Napi::Function>();
  }
  bool IsNullish(size_t i) const { return info_[i].IsNull() || info_[i].IsUndefined(); }

  // The whole of a TypedArray, DataView or ArrayBuffer.
  ByteRange Bytes(size_t i);
  // Bytes [offset, offset + length) of the view at index i; a range outside the view throws.
  ByteRange Bytes(size_t i, size_t offset_index, size_t length_index);
  // An Int32Array the call writes its outputs into, of at least min_length elements.
  int32_t* Int32Out(size_t i, size_t min_length, size_t* length = nullptr);
  // The bytes of the view `call` writes `elements` doubles into. One too short is a bug in the TypeScript
  // that sized it, not something the kernel said: a TypeError (ERR_INVALID_ARG_VALUE) naming the call,
  // where -EINVAL would surface as a kernel-looking IpcError.
  ByteRange Float64Out(size_t i, size_t elements, const char* call);

 private:
  bool Check(size_t i, bool valid, const char* expected);
  // One Node-API call, which is also the type check: a call per argument is much of a short system
  // call's cost on the JavaScript thread (bench/budget.ts --instructions).
  bool NumberAt(size_t i, double* value) const {
    return napi_get_value_double(info_.Env(), info_[i], value) == napi_ok;
  }
  double Integer(size_t i, double min, double max) {
    double value = 0;
    if (!Check(i, NumberAt(i, &value), "a number")) return 0;
    bool exact = std::trunc(value) == value && value >= min && value <= max;
    return Check(i, exact, "an integer in range") ? value : 0;
  }

  const Napi::CallbackInfo& info_;
  bool ok_ = true;
};

// A timeout in milliseconds as a relative timespec, rounded up to the nanosecond so that a wait never
// ends before the caller's deadline (TypeScript may compare the two).
inline timespec RelativeTimespec(double timeout_ms) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout_ms / 1000);
  ts.tv_nsec = static_cast<long>(std::ceil((timeout_ms - static_cast<double>(ts.tv_sec) * 1000) * 1e6));
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  if (ts.tv_nsec < 0) ts.tv_nsec = 0;
  return ts;
}

// CLOCK_MONOTONIC now plus timeout_ms: an absolute deadline that a wait restarted after EINTR keeps, and
// that a change of the wall clock cannot stretch.
inline timespec MonotonicDeadline(double timeout_ms) {
  timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  timespec relative = RelativeTimespec(timeout_ms);
  deadline.tv_sec += relative.tv_sec;
  deadline.tv_nsec += relative.tv_nsec;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  return deadline;
}

// std::shared_ptr<T>(new T(args...)) in place of std::make_shared: compiled without RTTI, as node-gyp
// compiles, make_shared's control block calls a libstdc++ function of GCC 9 (GLIBCXX_3.4.26) that older
// systems lack (native/compat.h).
template <typename T, typename... Args>
std::shared_ptr<T> MakeShared(Args&&... args) {
  return std::shared_ptr<T>(new T(std::forward<Args>(args)...));
}

// The `constants` object every family adds its numbers to.
inline Napi::Object ConstantsOf(Napi::Object exports) {
  Napi::Value existing = exports.Get("constants");
  if (existing.IsObject()) return existing.As<Napi::Object>();
  Napi::Object constants = Napi::Object::New(exports.Env());
  exports.Set("constants", constants);
  return constants;
}

#define UNIPC_CONSTANT(object, name) (object).Set(#name, Napi::Number::New((object).Env(), (name)))

// Exports a function under its own name.
#define UNIPC_EXPORT(exports, name, fn) (exports).Set((name), Napi::Function::New<fn>((exports).Env(), (name)))

}  // namespace unipc
