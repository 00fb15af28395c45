// The waiting machinery every blocking call of unipc goes through (see docs/design.md).
//
// A blocking system call that has no pollable file descriptor runs on a waiter thread owned by the
// addon, never on the libuv thread pool. Cancelling it sends the wake signal to that thread, again and
// again until the call returns, so the call cannot miss the signal by entering the kernel just after
// it was sent. The result reaches JavaScript through a uv_async handle of the calling environment.
#pragma once

#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <utility>

namespace unipc {

// One attempt at a blocking system call: returns its result, or -errno (-EINTR when interrupted, after
// which the call is attempted again unless it was cancelled).
using BlockingCall = std::function<int64_t()>;

// Gives back what a successful call acquired (e.g. closes the descriptor an open returned) when its
// result cannot be delivered because the JavaScript environment is gone.
using Discard = std::function<void(int64_t)>;

// Runs on the JavaScript thread when a wait's result is about to reach its callback, and returns the
// result to deliver instead (e.g. after copying what the call received into JavaScript memory). It may
// hold JavaScript references: it is destroyed on the JavaScript thread, and never runs once the
// environment is torn down.
using Deliver = std::function<int64_t(Napi::Env, int64_t)>;

// Starts `call` on a waiter thread. `callback(result)` runs on the JavaScript thread with the call's
// result, or -ECANCELED when it was cancelled before the system call completed. Returns the wait's id
// for cancelWait()/refWait(); a pending wait keeps the event loop alive until it is unreferenced.
Napi::Value StartWait(Napi::Env env, BlockingCall call, Napi::Function callback, Discard discard = nullptr,
                      Deliver deliver = nullptr);

// RunSync() with a timeout: the call runs on a waiter thread and is cancelled after timeout_ms,
// returning -ETIMEDOUT unless it completed first.
int64_t RunSyncTimed(BlockingCall call, double timeout_ms);

// Runs `call` on the JavaScript thread. A negative timeout waits forever (retrying after EINTR), with
// `call` called as it is: no std::function, whose heap allocation would be most of the JavaScript
// thread's own cost of a short system call. Otherwise as RunSyncTimed().
template <typename Call>
int64_t RunSync(Call&& call, double timeout_ms) {
  if (timeout_ms >= 0) return RunSyncTimed(BlockingCall(std::forward<Call>(call)), timeout_ms);
  for (;;) {
    int64_t r = call();
    if (r != -EINTR) return r;
  }
}

// Exports cancelWait, refWait, waiterStats and the Poller class.
void InitWait(Napi::Env env, Napi::Object exports);

}  // namespace unipc
