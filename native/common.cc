#include "common.h"

namespace unipc {

bool Args::Check(size_t i, bool valid, const char* expected) {
  if (valid) return true;
  if (ok_) {
    ok_ = false;
    std::string message = "unipc native call: argument " + std::to_string(i) + " must be " + expected;
    Napi::TypeError::New(Env(), message).ThrowAsJavaScriptException();
  }
  return false;
}

ByteRange Args::Bytes(size_t i) {
  Napi::Value value = info_[i];
  if (value.IsTypedArray()) {
    auto view = value.As<Napi::TypedArray>();
    auto* base = static_cast<uint8_t*>(view.ArrayBuffer().Data());
    return {base == nullptr ? nullptr : base + view.ByteOffset(), view.ByteLength()};
  }
  if (value.IsDataView()) {
    auto view = value.As<Napi::DataView>();
    auto* base = static_cast<uint8_t*>(view.ArrayBuffer().Data());
    return {base == nullptr ? nullptr : base + view.ByteOffset(), view.ByteLength()};
  }
  if (value.IsArrayBuffer()) {
    auto buffer = value.As<Napi::ArrayBuffer>();
    return {static_cast<uint8_t*>(buffer.Data()), buffer.ByteLength()};
  }
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
  Napi::Value value = info_[i];
  bool valid = value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array &&
               value.As<Napi::TypedArray>().ElementLength() >= min_length;
  if (!Check(i, valid, "an Int32Array of sufficient length")) return nullptr;
  auto view = value.As<Napi::Int32Array>();
  if (length != nullptr) *length = view.ElementLength();
  return view.Data();
}

}  // namespace unipc
