// The module entry: each family registers its functions and constants.
#include <napi.h>

#include "wait.h"

namespace unipc {
void InitFd(Napi::Env env, Napi::Object exports);
void InitPipe(Napi::Env env, Napi::Object exports);
void InitMmap(Napi::Env env, Napi::Object exports);
void InitShm(Napi::Env env, Napi::Object exports);
void InitFutex(Napi::Env env, Napi::Object exports);
void InitSem(Napi::Env env, Napi::Object exports);
void InitMsg(Napi::Env env, Napi::Object exports);
void InitMq(Napi::Env env, Napi::Object exports);
}  // namespace unipc

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  unipc::InitWait(env, exports);
  unipc::InitFd(env, exports);
  unipc::InitPipe(env, exports);
  unipc::InitMmap(env, exports);
  unipc::InitShm(env, exports);
  unipc::InitFutex(env, exports);
  unipc::InitSem(env, exports);
  unipc::InitMsg(env, exports);
  unipc::InitMq(env, exports);
  return exports;
}

NODE_API_MODULE(unipc, Init)
