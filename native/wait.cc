// Waiter threads, cancellation by signal, delivery through uv_async, and fd polling through uv_poll.
#include "wait.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common.h"

namespace unipc {
namespace {

struct EnvState;

struct Call {
  BlockingCall work;
  Discard discard;
  EnvState* env = nullptr;  // null for RunSyncTimed
  uint32_t id = 0;
  // Guarded by Pool::mu.
  bool cancelled = false;
  bool in_syscall = false;
  bool finished = false;
  pthread_t thread{};
  int64_t result = 0;
};

using CallPtr = std::shared_ptr<Call>;

struct Worker {
  std::condition_variable cv;
  CallPtr call;
};

// Process-wide and deliberately never destroyed: waiter threads may still be running while the process
// exits, so nothing they touch may have a static destructor.
struct Pool {
  std::mutex mu;
  std::condition_variable finished_cv;  // a call finished (RunSyncTimed and teardown wait on it)
  std::vector<Worker*> idle;
  size_t threads = 0;
  std::vector<CallPtr> cancelling;
  std::condition_variable kick_cv;
  bool kicker_started = false;
  std::chrono::milliseconds idle_timeout{5000};
  int wake_signal = 0;
};

Pool& ThePool() {
  static Pool* pool = [] {
    auto* p = new Pool();
    if (const char* ms = std::getenv("UNIPC_WAITER_IDLE_MS")) {
      long value = std::strtol(ms, nullptr, 10);
      if (value > 0) p->idle_timeout = std::chrono::milliseconds(value);
    }
    return p;
  }();
  return *pool;
}

void OnWakeSignal(int) {}

// The wake signal: the first real-time signal from the top that nobody has claimed. Installed without
// SA_RESTART so that a blocked system call returns EINTR.
int WakeSignal() {
  static int signal_number = [] {
    for (int sig = SIGRTMAX - 1; sig > SIGRTMIN; --sig) {
      struct sigaction current {};
      if (sigaction(sig, nullptr, &current) != 0) continue;
      if ((current.sa_flags & SA_SIGINFO) != 0 || current.sa_handler != SIG_DFL) continue;
      struct sigaction action {};
      action.sa_handler = OnWakeSignal;
      sigemptyset(&action.sa_mask);
      action.sa_flags = 0;
      if (sigaction(sig, &action, nullptr) == 0) return sig;
    }
    return 0;
  }();
  return signal_number;
}

// Creates a detached thread that receives no signal but the wake signal.
int StartThread(void* (*main)(void*), void* arg) {
  constexpr size_t kStackSize = 256 * 1024;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kStackSize);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  sigset_t blocked, previous;
  sigfillset(&blocked);
  sigdelset(&blocked, WakeSignal());
  pthread_sigmask(SIG_SETMASK, &blocked, &previous);
  pthread_t thread;
  int err = pthread_create(&thread, &attr, main, arg);
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  pthread_attr_destroy(&attr);
  return err;
}

// Re-sends the wake signal to cancelled calls that are still in their system call: a signal that
// arrived just before the thread entered the kernel is otherwise lost.
void* KickerMain(void*) {
  Pool& pool = ThePool();
  std::unique_lock<std::mutex> lock(pool.mu);
  auto delay = std::chrono::milliseconds(1);
  for (;;) {
    auto& list = pool.cancelling;
    list.erase(std::remove_if(list.begin(), list.end(), [](const CallPtr& c) { return c->finished; }), list.end());
    if (list.empty()) {
      delay = std::chrono::milliseconds(1);
      pool.kick_cv.wait(lock);
      continue;
    }
    pool.kick_cv.wait_for(lock, delay);
    for (const CallPtr& c : list) {
      if (c->in_syscall) pthread_kill(c->thread, pool.wake_signal);
    }
    delay = std::min(delay * 2, std::chrono::milliseconds(100));
  }
  return nullptr;
}

void CancelLocked(Pool& pool, const CallPtr& call) {
  if (call->finished || call->cancelled) return;
  call->cancelled = true;
  if (call->in_syscall) pthread_kill(call->thread, pool.wake_signal);
  pool.cancelling.push_back(call);
  if (!pool.kicker_started && StartThread(KickerMain, nullptr) == 0) pool.kicker_started = true;
  pool.kick_cv.notify_one();
}

void FinishLocked(Pool& pool, const CallPtr& call, int64_t result);

void ExecuteLocked(Pool& pool, std::unique_lock<std::mutex>& lock, const CallPtr& call) {
  int64_t result;
  for (;;) {
    if (call->cancelled) {
      result = -ECANCELED;
      break;
    }
    call->thread = pthread_self();
    call->in_syscall = true;
    lock.unlock();
    int64_t r = call->work();
    // What the call captured (a mapped region's hold, say) is let go now, not when the last reference to
    // the Call goes, which can be after JavaScript already acted on the result (closed the mapping).
    if (r != -EINTR) call->work = nullptr;
    lock.lock();
    call->in_syscall = false;
    if (r != -EINTR) {
      result = r;
      break;
    }
  }
  FinishLocked(pool, call, result);
}

void* WorkerMain(void* arg) {
  auto* self = static_cast<Worker*>(arg);
  Pool& pool = ThePool();
  std::unique_lock<std::mutex> lock(pool.mu);
  for (;;) {
    while (!self->call) {
      if (self->cv.wait_for(lock, pool.idle_timeout) == std::cv_status::timeout && !self->call) {
        pool.idle.erase(std::find(pool.idle.begin(), pool.idle.end(), self));
        pool.threads--;
        lock.unlock();
        delete self;
        return nullptr;
      }
    }
    CallPtr call = std::move(self->call);
    self->call = nullptr;
    ExecuteLocked(pool, lock, call);
    call.reset();
    pool.idle.push_back(self);
  }
}

// Hands the call to an idle waiter thread or a new one. Returns 0 or an errno.
int SubmitLocked(Pool& pool, const CallPtr& call) {
  if (pool.wake_signal == 0) return ENOSYS;
  if (!pool.idle.empty()) {
    Worker* worker = pool.idle.back();
    pool.idle.pop_back();
    worker->call = call;
    worker->cv.notify_one();
    return 0;
  }
  auto* worker = new Worker();
  worker->call = call;
  int err = StartThread(WorkerMain, worker);
  if (err != 0) {
    delete worker;
    return err;
  }
  pool.threads++;
  return 0;
}

// ---- Per-environment state: pending waits and their delivery -------------------------------------

struct PendingWait {
  CallPtr call;
  Napi::FunctionReference callback;
  Deliver deliver;  // JavaScript thread only, like the callback
  bool ref = true;
};

class Poller;

struct EnvState {
  napi_env env = nullptr;
  uv_loop_t* loop = nullptr;
  uv_async_t* async = nullptr;
  std::unique_ptr<Napi::AsyncContext> async_context;
  napi_async_cleanup_hook_handle cleanup_handle = nullptr;
  bool dead = false;
  // JavaScript thread only.
  std::unordered_map<uint32_t, PendingWait> pending;
  uint32_t next_id = 1;
  size_t refs = 0;
  std::unordered_set<Poller*> pollers;
  std::unordered_set<int> owned_fds;  // descriptors of live JavaScript objects, closed at teardown
  int closing_handles = 0;
  std::shared_ptr<EnvState> self_until_closed;  // set by teardown until the last handle has closed
  // Guarded by Pool::mu.
  std::vector<CallPtr> done;
};

void FinishLocked(Pool& pool, const CallPtr& call, int64_t result) {
  call->result = result;
  call->finished = true;
  if (call->env != nullptr) {
    call->env->done.push_back(call);
    uv_async_send(call->env->async);
  }
  pool.finished_cv.notify_all();
}

void UpdateLoopRef(EnvState* state) {
  if (state->refs > 0) {
    uv_ref(reinterpret_cast<uv_handle_t*>(state->async));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(state->async));
  }
}

// Calls fn inside a callback scope so that promise reactions run afterwards; an exception thrown by fn
// becomes an uncaught exception of the process, as for any callback Node itself invokes.
void InvokeCallback(Napi::Env env, Napi::Function fn, napi_value recv, std::initializer_list<napi_value> args) {
  fn.Call(recv, args);
  if (env.IsExceptionPending()) {
    Napi::Error error = env.GetAndClearPendingException();
    napi_fatal_exception(env, error.Value());
  }
}

void OnCallsDone(uv_async_t* handle) {
  auto* state = static_cast<EnvState*>(handle->data);
  if (state->dead) return;
  std::vector<CallPtr> done;
  {
    std::lock_guard<std::mutex> lock(ThePool().mu);
    done.swap(state->done);
  }
  if (done.empty()) return;
  Napi::Env env(state->env);
  Napi::HandleScope scope(env);
  Napi::CallbackScope callback_scope(env, *state->async_context);
  for (const CallPtr& call : done) {
    auto it = state->pending.find(call->id);
    if (it == state->pending.end()) continue;
    Napi::FunctionReference callback = std::move(it->second.callback);
    Deliver deliver = std::move(it->second.deliver);
    if (it->second.ref) state->refs--;
    state->pending.erase(it);
    int64_t result = deliver ? deliver(env, call->result) : call->result;
    InvokeCallback(env, callback.Value(), env.Undefined(), {Result(env, result)});
  }
  UpdateLoopRef(state);
}

class Poller : public Napi::ObjectWrap<Poller> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Poller",
                       {InstanceMethod<&Poller::Start>("start"), InstanceMethod<&Poller::Stop>("stop"),
                        InstanceMethod<&Poller::Close>("close"), InstanceMethod<&Poller::SetLoopRef>("setRef")});
  }

  // new Poller(fd, callback(status, events)); construction fails (check .error) when libuv refuses fd.
  explicit Poller(const Napi::CallbackInfo& info);
  ~Poller() override { CloseHandle(); }

  // Closes the uv handle; safe to call more than once.
  void CloseHandle();

 private:
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value SetLoopRef(const Napi::CallbackInfo& info);
  static void OnPoll(uv_poll_t* handle, int status, int events);

  void Deactivate();

  std::shared_ptr<EnvState> state_;
  uv_poll_t* handle_ = nullptr;
  bool active_ = false;
};

// The poller's callback lives on its own JavaScript object, not in a persistent reference: a stopped
// poller is then collectable together with everything its callback reaches.
constexpr const char* kCallbackKey = "callback";

struct EnvHolder {
  std::shared_ptr<EnvState> state;
};

std::shared_ptr<EnvState> StateOf(Napi::Env env) { return env.GetInstanceData<EnvHolder>()->state; }

void OnHandleClosed(EnvState* state) {
  if (--state->closing_handles > 0) return;
  napi_remove_async_cleanup_hook(state->cleanup_handle);
  std::shared_ptr<EnvState> last = std::move(state->self_until_closed);
}

// The environment is going away (process exit or worker termination): cancel every pending wait, wait
// for the waiter threads to let go of them, give back what late successes acquired, close the handles.
void OnTeardown(napi_async_cleanup_hook_handle, void* arg) {
  auto* holder = static_cast<EnvHolder*>(arg);
  std::shared_ptr<EnvState> state = holder->state;
  Pool& pool = ThePool();
  {
    std::unique_lock<std::mutex> lock(pool.mu);
    for (auto& entry : state->pending) CancelLocked(pool, entry.second.call);
    pool.finished_cv.wait(lock, [&] {
      for (auto& entry : state->pending) {
        if (!entry.second.call->finished) return false;
      }
      return true;
    });
    for (auto& entry : state->pending) {
      const CallPtr& call = entry.second.call;
      if (call->result >= 0 && call->discard) call->discard(call->result);
    }
    state->done.clear();
    state->dead = true;
  }
  state->pending.clear();
  state->async_context.reset();
  state->self_until_closed = state;
  std::vector<Poller*> pollers(state->pollers.begin(), state->pollers.end());
  for (Poller* poller : pollers) poller->CloseHandle();
  // A terminated worker never runs the finalizers of its objects: their descriptors are closed here.
  for (int fd : state->owned_fds) close(fd);
  state->owned_fds.clear();
  state->closing_handles++;
  uv_close(reinterpret_cast<uv_handle_t*>(state->async), [](uv_handle_t* handle) {
    auto* s = static_cast<EnvState*>(handle->data);
    delete reinterpret_cast<uv_async_t*>(handle);
    s->async = nullptr;
    OnHandleClosed(s);
  });
}

Poller::Poller(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Poller>(info) {
  Args args(info);
  int fd = args.Int32(0);
  Napi::Function callback = args.Function(1);
  if (!args.ok()) return;
  state_ = StateOf(info.Env());
  auto* handle = new uv_poll_t();
  int err = uv_poll_init(state_->loop, handle, fd);
  if (err != 0) {
    delete handle;
    info.This().As<Napi::Object>().Set("error", Result(info.Env(), err));
    return;
  }
  handle->data = this;
  handle_ = handle;
  info.This().As<Napi::Object>().Set(kCallbackKey, callback);
  state_->pollers.insert(this);
}

void Poller::Deactivate() {
  if (!active_) return;
  active_ = false;
  Unref();
}

void Poller::CloseHandle() {
  if (handle_ == nullptr) return;
  Deactivate();
  state_->pollers.erase(this);
  uv_poll_t* handle = handle_;
  handle_ = nullptr;
  handle->data = state_.get();
  state_->closing_handles++;
  uv_close(reinterpret_cast<uv_handle_t*>(handle), [](uv_handle_t* h) {
    auto* s = static_cast<EnvState*>(h->data);
    delete reinterpret_cast<uv_poll_t*>(h);
    if (s->dead)
      OnHandleClosed(s);
    else
      s->closing_handles--;
  });
}

// start(events) → 0 or -errno; events are UV_READABLE | UV_WRITABLE | UV_DISCONNECT.
Napi::Value Poller::Start(const Napi::CallbackInfo& info) {
  Args args(info);
  int events = args.Int32(0);
  if (!args.ok()) return info.Env().Undefined();
  if (handle_ == nullptr) return Result(info.Env(), -EBADF);
  int err = uv_poll_start(handle_, events, OnPoll);
  if (err == 0 && !active_) {
    active_ = true;
    Ref();  // an active poller must not be collected: its callback is still to come
  }
  return Result(info.Env(), err);
}

Napi::Value Poller::Stop(const Napi::CallbackInfo& info) {
  if (handle_ != nullptr) uv_poll_stop(handle_);
  Deactivate();
  return info.Env().Undefined();
}

Napi::Value Poller::Close(const Napi::CallbackInfo& info) {
  CloseHandle();
  return info.Env().Undefined();
}

Napi::Value Poller::SetLoopRef(const Napi::CallbackInfo& info) {
  Args args(info);
  bool keep_alive = args.Bool(0);
  if (!args.ok() || handle_ == nullptr) return info.Env().Undefined();
  if (keep_alive) {
    uv_ref(reinterpret_cast<uv_handle_t*>(handle_));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
  }
  return info.Env().Undefined();
}

void Poller::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<Poller*>(handle->data);
  if (self->state_->dead) return;
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  Napi::Object object = self->Value();
  // On an error libuv stops the handle itself (POLLERR is reported as UV_EBADF): follow suit.
  if (status < 0) self->Deactivate();
  Napi::Value callback = object.Get(kCallbackKey);
  if (!callback.IsFunction()) return;
  Napi::CallbackScope callback_scope(env, *self->state_->async_context);
  InvokeCallback(env, callback.As<Napi::Function>(), object, {Result(env, status), Result(env, events)});
}

// cancelWait(id): the wait's callback gets -ECANCELED unless its system call completes first.
Napi::Value CancelWait(const Napi::CallbackInfo& info) {
  Args args(info);
  uint32_t id = args.Uint32(0);
  if (!args.ok()) return info.Env().Undefined();
  std::shared_ptr<EnvState> state = StateOf(info.Env());
  auto it = state->pending.find(id);
  if (it != state->pending.end()) {
    Pool& pool = ThePool();
    std::lock_guard<std::mutex> lock(pool.mu);
    CancelLocked(pool, it->second.call);
  }
  return info.Env().Undefined();
}

// refWait(id, keepAlive): whether the pending wait keeps the event loop alive.
Napi::Value RefWait(const Napi::CallbackInfo& info) {
  Args args(info);
  uint32_t id = args.Uint32(0);
  bool keep_alive = args.Bool(1);
  if (!args.ok()) return info.Env().Undefined();
  std::shared_ptr<EnvState> state = StateOf(info.Env());
  auto it = state->pending.find(id);
  if (it != state->pending.end() && it->second.ref != keep_alive) {
    it->second.ref = keep_alive;
    if (keep_alive) {
      state->refs++;
    } else {
      state->refs--;
    }
    UpdateLoopRef(state.get());
  }
  return info.Env().Undefined();
}

// ownFd(fd, owned): whether the descriptor belongs to a JavaScript object of this environment, to be
// closed if the environment is torn down first.
Napi::Value OwnFd(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  bool owned = args.Bool(1);
  if (!args.ok()) return info.Env().Undefined();
  std::shared_ptr<EnvState> state = StateOf(info.Env());
  if (owned) {
    state->owned_fds.insert(fd);
  } else {
    state->owned_fds.erase(fd);
  }
  return info.Env().Undefined();
}

// waiterStats() → { threads, idle, cancelling, pending, pollers, signal }: for tests and diagnostics.
Napi::Value WaiterStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Pool& pool = ThePool();
  Napi::Object stats = Napi::Object::New(env);
  std::lock_guard<std::mutex> lock(pool.mu);
  stats.Set("threads", Result(env, static_cast<int64_t>(pool.threads)));
  stats.Set("idle", Result(env, static_cast<int64_t>(pool.idle.size())));
  size_t cancelling = 0;
  for (const CallPtr& c : pool.cancelling) cancelling += c->finished ? 0 : 1;
  stats.Set("cancelling", Result(env, static_cast<int64_t>(cancelling)));
  stats.Set("pending", Result(env, static_cast<int64_t>(StateOf(env)->pending.size())));
  stats.Set("pollers", Result(env, static_cast<int64_t>(StateOf(env)->pollers.size())));
  stats.Set("signal", Result(env, pool.wake_signal));
  return stats;
}

}  // namespace

Napi::Value StartWait(Napi::Env env, BlockingCall work, Napi::Function callback, Discard discard, Deliver deliver) {
  std::shared_ptr<EnvState> state = StateOf(env);
  auto call = MakeShared<Call>();
  call->work = std::move(work);
  call->discard = std::move(discard);
  call->env = state.get();
  call->id = state->next_id++;
  if (call->id == 0) call->id = state->next_id++;
  Pool& pool = ThePool();
  {
    std::lock_guard<std::mutex> lock(pool.mu);
    int err = SubmitLocked(pool, call);
    if (err != 0) return Result(env, -err);
  }
  PendingWait& pending = state->pending[call->id];
  pending.call = call;
  pending.callback = Napi::Persistent(callback);
  pending.deliver = std::move(deliver);
  state->refs++;
  UpdateLoopRef(state.get());
  return Result(env, call->id);
}

int64_t RunSyncTimed(BlockingCall work, double timeout_ms) {
  auto call = MakeShared<Call>();
  call->work = std::move(work);
  Pool& pool = ThePool();
  std::unique_lock<std::mutex> lock(pool.mu);
  int err = SubmitLocked(pool, call);
  if (err != 0) return -err;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double, std::milli>(timeout_ms);
  if (!pool.finished_cv.wait_until(lock, deadline, [&] { return call->finished; })) {
    CancelLocked(pool, call);
    pool.finished_cv.wait(lock, [&] { return call->finished; });
  }
  // A call that completed before the cancellation reached it keeps its result: nothing is lost.
  return call->result == -ECANCELED ? -ETIMEDOUT : call->result;
}

void InitWait(Napi::Env env, Napi::Object exports) {
  Pool& pool = ThePool();
  {
    std::lock_guard<std::mutex> lock(pool.mu);
    pool.wake_signal = WakeSignal();
  }
  auto state = MakeShared<EnvState>();
  state->env = env;
  napi_get_uv_event_loop(env, &state->loop);
  state->async = new uv_async_t();
  uv_async_init(state->loop, state->async, OnCallsDone);
  state->async->data = state.get();
  uv_unref(reinterpret_cast<uv_handle_t*>(state->async));
  state->async_context = std::make_unique<Napi::AsyncContext>(env, "unipc:wait");
  auto* holder = new EnvHolder{state};
  env.SetInstanceData<EnvHolder>(holder);
  napi_add_async_cleanup_hook(env, OnTeardown, holder, &state->cleanup_handle);

  exports.Set("cancelWait", Napi::Function::New<CancelWait>(env, "cancelWait"));
  exports.Set("refWait", Napi::Function::New<RefWait>(env, "refWait"));
  exports.Set("waiterStats", Napi::Function::New<WaiterStats>(env, "waiterStats"));
  exports.Set("ownFd", Napi::Function::New<OwnFd>(env, "ownFd"));
  exports.Set("Poller", Poller::Define(env));
}

}  // namespace unipc
