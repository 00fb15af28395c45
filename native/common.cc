#include "common.h"

#if defined(__libc_single_threaded)
// Read by libstdc++ in place of glibc's __libc_single_threaded (native/compat.h): never single-threaded.
extern "C" {
char unipc_libc_single_threaded = 0;
}
#endif

namespace unipc {

namespace {
size_t ElementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array:
      return 1;
    case napi_int16_array:
    case napi_uint16_array:
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    default:
      return 8;  // float64, bigint64, biguint64
  }
}
}  // namespace

bool Args::Check(size_t i, bool valid, const char* expected) {
  if (valid) return true;
  if (ok_) {
    ok_ = false;
    std::string message = "unipc native call: argument " + std::to_string(i) + " must be " + expected;
    Napi::TypeError::New(Env(), message).ThrowAsJavaScriptException();
  }
  return false;
}

// Raw Node-API here: its typed-array and data-view queries give the data pointer directly, which also
// works for views over a SharedArrayBuffer (node-addon-api's ArrayBuffer() accessor does not).
bool ViewBytes(napi_env env, napi_value value, ByteRange* out) {
  void* data = nullptr;
  size_t length = 0;
  bool is = false;
  napi_typedarray_type type;
  size_t elements = 0;
  // Typed arrays first, with the one call that also tells whether it is one (napi_invalid_arg if not).
  if (napi_get_typedarray_info(env, value, &type, &elements, &data, nullptr, nullptr) == napi_ok) {
    *out = {static_cast<uint8_t*>(data), elements * ElementSize(type)};
    return true;
  }
  if (napi_is_dataview(env, value, &is) == napi_ok && is) {
    if (napi_get_dataview_info(env, value, &length, &data, nullptr, nullptr) == napi_ok) {
      *out = {static_cast<uint8_t*>(data), length};
      return true;
    }
  } else if (napi_is_arraybuffer(env, value, &is) == napi_ok && is) {
    if (napi_get_arraybuffer_info(env, value, &data, &length) == napi_ok) {
      *out = {static_cast<uint8_t*>(data), length};
      return true;
    }
  }
  return false;
}

ByteRange Args::Bytes(size_t i) {
  ByteRange range{nullptr, 0};
  if (ViewBytes(Env(), info_[i], &range)) return range;
  Check(i, false, "an ArrayBuffer or a view of one");
  return {nullptr, 0};
}

ByteRange Args::Bytes(size_t i, size_t offset_index, size_t length_index) {
  ByteRange whole = Bytes(i);
  double offset = Double(offset_index);
  double length = Double(length_index);
  if (!ok_) return {nullptr, 0};
  bool inside = offset >= 0 && length >= 0 && offset + length <= static_cast<double>(whole.length);
  if (!Check(offset_index, inside, "a range inside the buffer")) return {nullptr, 0};
  if (whole.data == nullptr) return {nullptr, 0};
  return {whole.data + static_cast<size_t>(offset), static_cast<size_t>(length)};
}

int32_t* Args::Int32Out(size_t i, size_t min_length, size_t* length) {
  napi_typedarray_type type = napi_int8_array;
  size_t elements = 0;
  void* data = nullptr;
  bool valid = napi_get_typedarray_info(Env(), info_[i], &type, &elements, &data, nullptr, nullptr) == napi_ok &&
               type == napi_int32_array && elements >= min_length;
  if (!Check(i, valid, "an Int32Array of sufficient length")) return nullptr;
  if (length != nullptr) *length = elements;
  return static_cast<int32_t*>(data);
}

ByteRange Args::Float64Out(size_t i, size_t elements, const char* call) {
  ByteRange out = Bytes(i);
  if (!ok_ || out.length >= elements * sizeof(double)) return out;
  ok_ = false;
  std::string message = std::string("unipc native call: ") + call + " needs an output Float64Array of at least " +
                        std::to_string(elements) + " elements; it got " + std::to_string(out.length) + " bytes";
  napi_throw_type_error(Env(), "ERR_INVALID_ARG_VALUE", message.c_str());
  return {nullptr, 0};
}

}  // namespace unipc
