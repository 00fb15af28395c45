// Waiter threads, cancellation by signal, delivery through a Node-API thread-safe function, and fd
// readiness through the addon's epoll thread or, on Node, uv_poll.
#include "wait.h"

#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
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

// What `top -H`, /proc/<pid>/task/*/comm and the tests see: which threads are the addon's (15 bytes).
void NameThisThread(const char* name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

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
  NameThisThread("unipc-cancel");
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
  NameThisThread("unipc-waiter");
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
//
// Results reach JavaScript through one napi_threadsafe_function per environment, the one way Node, Bun
// and Deno all have for a thread to wake the event loop. A thread that queues a result calls it only when
// nothing is queued yet, so a burst of results costs one wake-up, as a uv_async does.

struct PendingWait {
  CallPtr call;
  Napi::FunctionReference callback;
  Deliver deliver;  // JavaScript thread only, like the callback
  bool ref = true;
};

class Poller;

// How a Poller learns that its descriptor is ready.
enum class Readiness {
  kThread,  // the addon's epoll thread (any runtime)
  kLoop,    // a uv_poll handle on the event loop (Node only: one wake-up fewer per event)
};

// One event the epoll thread saw, for the JavaScript thread to hand to the poller with that token.
struct PollEvent {
  uint64_t token;
  uint32_t events;  // EPOLL*
};

struct EnvState {
  napi_env env = nullptr;
  napi_threadsafe_function wake = nullptr;
  bool wake_referenced = false;
  Readiness readiness = Readiness::kThread;
  uv_loop_t* loop = nullptr;  // Readiness::kLoop only
  std::unique_ptr<Napi::AsyncContext> async_context;
  // JavaScript thread only.
  std::unordered_map<uint32_t, PendingWait> pending;
  uint32_t next_id = 1;
  size_t refs = 0;  // ref'd pending waits, and active ref'd pollers of the epoll thread
  std::unordered_set<Poller*> pollers;
  std::unordered_map<uint64_t, Poller*> polled;  // by token: the pollers the epoll thread watches for
  std::unordered_set<int> owned_fds;             // descriptors of live JavaScript objects, closed at teardown
  // Guarded by Pool::mu.
  bool dead = false;   // torn down, or the runtime finalized the wake function
  bool woken = false;  // the wake is queued and has not run yet
  std::vector<CallPtr> done;
  std::vector<PollEvent> ready;
};

// Under Pool::mu.
void WakeLocked(EnvState* state) {
  if (state->dead || state->woken) return;
  state->woken = true;
  napi_call_threadsafe_function(state->wake, nullptr, napi_tsfn_nonblocking);
}

void FinishLocked(Pool& pool, const CallPtr& call, int64_t result) {
  call->result = result;
  call->finished = true;
  if (call->env != nullptr) {
    call->env->done.push_back(call);
    WakeLocked(call->env);
  }
  pool.finished_cv.notify_all();
}

void UpdateLoopRef(EnvState* state) {
  bool wanted = state->refs > 0;
  if (wanted == state->wake_referenced || state->wake == nullptr) return;
  state->wake_referenced = wanted;
  if (wanted) {
    napi_ref_threadsafe_function(state->env, state->wake);
  } else {
    napi_unref_threadsafe_function(state->env, state->wake);
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

void DeliverPollEvents(EnvState* state, const std::vector<PollEvent>& events);

// The runtime is done with the wake function (its environment is going): nobody may call it after this.
// `held` keeps the state alive until then: which of the two the runtime lets go of first is its choice.
void OnWakeFinalized(napi_env, void* held, void*) {
  auto* state = static_cast<std::shared_ptr<EnvState>*>(held);
  {
    std::lock_guard<std::mutex> lock(ThePool().mu);
    (*state)->dead = true;
  }
  delete state;
}

void OnWake(napi_env env, napi_value, void* context, void*) {
  auto* state = static_cast<EnvState*>(context);
  if (env == nullptr) return;  // the function is being torn down
  std::vector<CallPtr> done;
  std::vector<PollEvent> ready;
  {
    std::lock_guard<std::mutex> lock(ThePool().mu);
    if (state->dead) return;
    state->woken = false;
    done.swap(state->done);
    ready.swap(state->ready);
  }
  Napi::Env napi_env(env);
  Napi::HandleScope scope(napi_env);
  Napi::CallbackScope callback_scope(napi_env, *state->async_context);
  for (const CallPtr& call : done) {
    auto it = state->pending.find(call->id);
    if (it == state->pending.end()) continue;
    Napi::FunctionReference callback = std::move(it->second.callback);
    Deliver deliver = std::move(it->second.deliver);
    if (it->second.ref) state->refs--;
    state->pending.erase(it);
    int64_t result = deliver ? deliver(napi_env, call->result) : call->result;
    InvokeCallback(napi_env, callback.Value(), napi_env.Undefined(), {Result(napi_env, result)});
  }
  if (!ready.empty()) DeliverPollEvents(state, ready);
  UpdateLoopRef(state);
}

// ---- The epoll thread ----------------------------------------------------------------------------
//
// One thread of the process watches every descriptor a Poller of the kThread kind waits on, each with
// EPOLLONESHOT: an event disarms its descriptor until the JavaScript thread has handed it on and re-arms
// it, so a descriptor that stays ready wakes JavaScript once per turn, not in a loop.

struct Watches {
  std::atomic<int> epoll_fd{-1};  // -1 again if it was closed behind the addon's back
  uint64_t next_token = 1;
  std::unordered_map<uint64_t, EnvState*> owners;  // guarded by Pool::mu
};

Watches& TheWatches() {
  static Watches* watches = new Watches();
  return *watches;
}

void* EpollMain(void*) {
  NameThisThread("unipc-epoll");
  Pool& pool = ThePool();
  Watches& watches = TheWatches();
  epoll_event events[64];
  for (;;) {
    int n = epoll_wait(watches.epoll_fd, events, 64, -1);
    if (n < 0 && errno == EINTR) continue;
    std::lock_guard<std::mutex> lock(pool.mu);
    if (n < 0) {
      // The epoll descriptor was closed behind the addon's back (a close of every descriptor, say): stop,
      // and let every start() from now on fail with EBADF rather than watch a number reused since.
      watches.epoll_fd = -1;
      return nullptr;
    }
    for (int i = 0; i < n; i++) {
      auto it = watches.owners.find(events[i].data.u64);
      if (it == watches.owners.end()) continue;  // its poller closed meanwhile
      it->second->ready.push_back({events[i].data.u64, events[i].events});
      WakeLocked(it->second);
    }
  }
  return nullptr;
}

// The epoll descriptor, its thread started on first use; -errno when either cannot be had.
int EpollFd() {
  static int fd = [] {
    int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) return -errno;
    TheWatches().epoll_fd = epoll_fd;
    int err = StartThread(EpollMain, nullptr);
    if (err != 0) {
      close(epoll_fd);
      return -err;
    }
    return epoll_fd;
  }();
  return fd;
}

constexpr uint32_t ToEpoll(int uv_events) {
  return ((uv_events & UV_READABLE) ? uint32_t{EPOLLIN} : 0u) | ((uv_events & UV_WRITABLE) ? uint32_t{EPOLLOUT} : 0u) |
         ((uv_events & UV_DISCONNECT) ? uint32_t{EPOLLRDHUP} : 0u);
}

class Poller : public Napi::ObjectWrap<Poller> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Poller",
                       {InstanceMethod<&Poller::Start>("start"), InstanceMethod<&Poller::Stop>("stop"),
                        InstanceMethod<&Poller::Close>("close"), InstanceMethod<&Poller::SetLoopRef>("setRef")});
  }

  // new Poller(fd, callback(status, events)); construction fails (check .error) when the descriptor
  // cannot be polled (a regular file, say).
  explicit Poller(const Napi::CallbackInfo& info);
  ~Poller() override { CloseHandle(); }

  // Stops watching; safe to call more than once.
  void CloseHandle();

  // The epoll thread saw `events` (EPOLL*): tell JavaScript, as libuv would, then re-arm if still wanted.
  void OnEpoll(uint32_t events);

 private:
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value SetLoopRef(const Napi::CallbackInfo& info);
  static void OnPoll(uv_poll_t* handle, int status, int events);

  void Report(int status, int events);
  void Deactivate();
  int Arm();
  void CountRef();

  std::shared_ptr<EnvState> state_;
  bool open_ = false;
  bool active_ = false;
  bool keep_alive_ = true;
  int wanted_ = 0;  // UV_* of the last start()
  // Readiness::kLoop
  uv_poll_t* handle_ = nullptr;
  // Readiness::kThread
  int fd_ = -1;
  uint64_t token_ = 0;
  bool counted_ = false;  // in state_->refs
};

// The poller's callback lives on its own JavaScript object, not in a persistent reference: a stopped
// poller is then collectable together with everything its callback reaches.
constexpr const char* kCallbackKey = "callback";

struct EnvHolder {
  std::shared_ptr<EnvState> state;
};

std::shared_ptr<EnvState> StateOf(Napi::Env env) { return env.GetInstanceData<EnvHolder>()->state; }

void DeliverPollEvents(EnvState* state, const std::vector<PollEvent>& events) {
  for (const PollEvent& event : events) {
    auto it = state->polled.find(event.token);
    if (it != state->polled.end()) it->second->OnEpoll(event.events);
  }
}

// The environment is going away (process exit or worker termination): cancel every pending wait, wait
// for the waiter threads to let go of them, give back what late successes acquired, stop watching.
void OnTeardown(void* arg) {
  std::shared_ptr<EnvState> state = static_cast<EnvHolder*>(arg)->state;
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
    state->ready.clear();
    state->dead = true;  // from now on nothing calls the wake function, which the runtime tears down
  }
  state->pending.clear();
  // Left to the dying environment rather than destroyed: Deno's napi_async_destroy makes a handle, and
  // neither its cleanup hooks nor its finalizers run inside a HandleScope (V8 then aborts the process).
  static_cast<void>(state->async_context.release());
  std::vector<Poller*> pollers(state->pollers.begin(), state->pollers.end());
  for (Poller* poller : pollers) poller->CloseHandle();
  // A terminated worker never runs the finalizers of its objects: their descriptors are closed here.
  for (int fd : state->owned_fds) close(fd);
  state->owned_fds.clear();
}

Poller::Poller(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Poller>(info) {
  Args args(info);
  int fd = args.Int32(0);
  Napi::Function callback = args.Function(1);
  if (!args.ok()) return;
  state_ = StateOf(info.Env());
  int err = 0;
  if (state_->readiness == Readiness::kLoop) {
    auto* handle = new uv_poll_t();
    err = uv_poll_init(state_->loop, handle, fd);
    if (err == 0) {
      handle->data = this;
      handle_ = handle;
    } else {
      delete handle;
    }
  } else {
    int started = EpollFd();
    std::lock_guard<std::mutex> lock(ThePool().mu);
    Watches& watches = TheWatches();
    int current = watches.epoll_fd;
    int epoll_fd = started < 0 ? started : current < 0 ? -EBADF : current;
    if (epoll_fd < 0) {
      err = epoll_fd;
    } else {
      token_ = watches.next_token++;
      // Added asking for nothing: until start(), only a hang-up or an error can fire it (epoll always
      // reports those), once (EPOLLONESHOT), and OnEpoll() drops that for a poller not started.
      epoll_event event{};
      event.events = EPOLLONESHOT;
      event.data.u64 = token_;
      if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) == 0) {
        watches.owners[token_] = state_.get();
        fd_ = fd;
      } else {
        err = -errno;
      }
    }
    if (err == 0) state_->polled[token_] = this;
  }
  if (err != 0) {
    info.This().As<Napi::Object>().Set("error", Result(info.Env(), err));
    return;
  }
  open_ = true;
  info.This().As<Napi::Object>().Set(kCallbackKey, callback);
  state_->pollers.insert(this);
}

// Keeps state_->refs counting this poller exactly while it is active, kept alive and on the epoll thread.
void Poller::CountRef() {
  bool wanted = active_ && keep_alive_ && fd_ >= 0;
  if (wanted == counted_) return;
  counted_ = wanted;
  if (wanted) {
    state_->refs++;
  } else {
    state_->refs--;
  }
  UpdateLoopRef(state_.get());
}

void Poller::Deactivate() {
  if (!active_) return;
  active_ = false;
  CountRef();
  Unref();
}

void Poller::CloseHandle() {
  if (!open_) return;
  open_ = false;
  Deactivate();
  state_->pollers.erase(this);
  if (fd_ >= 0) {
    {
      std::lock_guard<std::mutex> lock(ThePool().mu);
      epoll_ctl(TheWatches().epoll_fd, EPOLL_CTL_DEL, fd_, nullptr);
      TheWatches().owners.erase(token_);
    }
    state_->polled.erase(token_);
    fd_ = -1;
    return;
  }
  // Its close completes on a later turn of the loop, or never if that was the last: either is fine, as
  // the handle is all the callback touches.
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  handle_ = nullptr;
}

int Poller::Arm() {
  if (handle_ != nullptr) return uv_poll_start(handle_, wanted_, OnPoll);
  epoll_event event{};
  event.events = EPOLLONESHOT | ToEpoll(wanted_);
  event.data.u64 = token_;
  return epoll_ctl(TheWatches().epoll_fd, EPOLL_CTL_MOD, fd_, &event) == 0 ? 0 : -errno;
}

// start(events) → 0 or -errno; events are UV_READABLE | UV_WRITABLE | UV_DISCONNECT.
Napi::Value Poller::Start(const Napi::CallbackInfo& info) {
  Args args(info);
  int events = args.Int32(0);
  if (!args.ok()) return info.Env().Undefined();
  if (!open_) return Result(info.Env(), -EBADF);
  wanted_ = events;
  int err = Arm();
  if (err == 0 && !active_) {
    active_ = true;
    CountRef();
    Ref();  // an active poller must not be collected: its callback is still to come
  }
  return Result(info.Env(), err);
}

// A stopped poller of the epoll thread stays armed; the one event that may still come is dropped.
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
  if (!args.ok() || !open_) return info.Env().Undefined();
  keep_alive_ = keep_alive;
  if (handle_ == nullptr) {
    CountRef();
  } else if (keep_alive) {
    uv_ref(reinterpret_cast<uv_handle_t*>(handle_));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
  }
  return info.Env().Undefined();
}

void Poller::Report(int status, int events) {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Napi::Object object = Value();
  Napi::Value callback = object.Get(kCallbackKey);
  if (!callback.IsFunction()) return;
  Napi::CallbackScope callback_scope(env, *state_->async_context);
  InvokeCallback(env, callback.As<Napi::Function>(), object, {Result(env, status), Result(env, events)});
}

void Poller::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<Poller*>(handle->data);
  if (self->state_->dead) return;  // torn down
  // On an error libuv stops the handle itself (POLLERR is reported as UV_EBADF): follow suit.
  if (status < 0) self->Deactivate();
  self->Report(status, events);
}

// What libuv's uv__poll_io makes of the same event, so that both kinds report alike: a hang-up or an
// error counts as every event asked for, and an error stops the poller with UV_EBADF.
void Poller::OnEpoll(uint32_t events) {
  if (!active_) return;  // stopped after the event was seen
  std::shared_ptr<EnvState> state = state_;
  uint64_t token = token_;
  if (events & EPOLLERR) {
    Deactivate();
    Report(UV_EBADF, 0);
    return;
  }
  uint32_t wanted = ToEpoll(wanted_);
  if (events & EPOLLHUP) events |= wanted;
  events &= wanted;
  int reported = ((events & EPOLLIN) ? UV_READABLE : 0) | ((events & EPOLLOUT) ? UV_WRITABLE : 0) |
                 ((events & EPOLLRDHUP) ? UV_DISCONNECT : 0);
  if (reported != 0) Report(0, reported);
  // The callback may have stopped or closed this poller, or let it be collected: look it up again.
  auto it = state->polled.find(token);
  if (it == state->polled.end() || !it->second->active_) return;
  int err = it->second->Arm();
  if (err != 0) {
    it->second->Deactivate();
    it->second->Report(err, 0);
  }
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

// setReadiness('loop' | 'thread'): how this environment's pollers learn that a descriptor is ready (see
// Readiness); before the first poller, else it stays as it was. The default is 'thread'.
Napi::Value SetReadiness(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<EnvState> state = StateOf(env);
  if (info.Length() < 1 || !info[0].IsString()) return Result(env, -EINVAL);
  std::string kind = info[0].As<Napi::String>().Utf8Value();
  if (kind != "loop" && kind != "thread") return Result(env, -EINVAL);
  if (!state->pollers.empty()) return Result(env, -EBUSY);
  if (kind == "thread") {
    state->readiness = Readiness::kThread;
    return Result(env, 0);
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return Result(env, -ENOSYS);
  state->loop = loop;
  state->readiness = Readiness::kLoop;
  return Result(env, 0);
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
  // Made before the cleanup hook is added, so that the hook (last in, first run) still finds it whole.
  napi_value name = Napi::String::New(env, "unipc:wake");
  auto* held = new std::shared_ptr<EnvState>(state);
  if (napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, held, OnWakeFinalized, state.get(), OnWake,
                                      &state->wake) != napi_ok) {
    delete held;
    Napi::Error::New(env, "unipc: napi_create_threadsafe_function failed").ThrowAsJavaScriptException();
    return;
  }
  napi_unref_threadsafe_function(env, state->wake);
  state->async_context = std::make_unique<Napi::AsyncContext>(env, "unipc:wait");
  auto* holder = new EnvHolder{state};
  env.SetInstanceData<EnvHolder>(holder);
  napi_add_env_cleanup_hook(env, OnTeardown, holder);

  exports.Set("cancelWait", Napi::Function::New<CancelWait>(env, "cancelWait"));
  exports.Set("refWait", Napi::Function::New<RefWait>(env, "refWait"));
  exports.Set("waiterStats", Napi::Function::New<WaiterStats>(env, "waiterStats"));
  exports.Set("ownFd", Napi::Function::New<OwnFd>(env, "ownFd"));
  exports.Set("setReadiness", Napi::Function::New<SetReadiness>(env, "setReadiness"));
  exports.Set("Poller", Poller::Define(env));
}

}  // namespace unipc
