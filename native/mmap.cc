// Memory mapping: mmap/msync, memfd_create/ftruncate/fallocate, and the region registry and fault guard
// that keep JavaScript's views of mapped memory safe (mmap.h, docs/design.md).
#include "mmap.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common.h"
#include "wait.h"

// V8 itself, where it is safe, for what Node-API makes slowly: many small ArrayBuffers over one region
// (windows, below). Its headers have unused parameters, which are not ours to fix.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <v8-version.h>
#include <v8.h>
#pragma GCC diagnostic pop

namespace unipc {
namespace {

static_assert(sizeof(void*) >= 8, "unipc needs a 64-bit platform: view ids travel as pointer-sized hints");

// A slot whose region is retired: an inert mapping is in place, so any access there can be retried.
constexpr int kGuardRetired = 1 << 16;

size_t PageSize() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

uintptr_t PageUp(uintptr_t value) { return (value + PageSize() - 1) & ~(static_cast<uintptr_t>(PageSize()) - 1); }

// What a write to a read-only mapping makes private: the 1 MiB-aligned chunk of the region around it.
constexpr size_t kChunk = 1 << 20;

// ---- The fault guard ----------------------------------------------------------------------------
//
// A table of guarded ranges that the signal handler reads without taking locks. Each slot is a
// seqlock: writers make `generation` odd while they change the fields, and readers discard what they
// read if the generation moved. A handler that acts on a slot also holds the slot's owner lock (by
// thread id, so a fault inside the handler cannot deadlock); retiring a slot takes the same lock, so
// no handler is half-way through a range that is being taken away.

struct GuardSlot {
  std::atomic<uint64_t> generation{0};
  std::atomic<uintptr_t> start{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<int> mode{0};
  std::atomic<int> fd{-1};
  std::atomic<int64_t> file_offset{0};
  std::atomic<std::atomic<uint32_t>*> faults{nullptr};
  std::atomic<uint8_t*> chunks{nullptr};            // kGuardCopyOnWrite: 1 for each replaced chunk
  std::atomic<uintptr_t> zeroed_from{UINTPTR_MAX};  // kGuardShrink: where the zero-filled tail starts
  std::atomic<pid_t> owner{0};
};

struct SlotSnapshot {
  uint64_t generation;
  uintptr_t start, end;
  int mode, fd;
  int64_t file_offset;
  std::atomic<uint32_t>* faults;
  uint8_t* chunks;
};

constexpr size_t kGuardSlots = 65536;  // vm.max_map_count's default: no more mappings can exist
constexpr size_t kGuardBlock = 1024;   // slots are allocated a block at a time, as needed
// Never freed: handlers may run at exit. A block is published before the high-water mark covers it.
std::atomic<GuardSlot*> guard_blocks[kGuardSlots / kGuardBlock];
std::atomic<size_t> guard_high_water{0};

GuardSlot& SlotAt(size_t i) { return guard_blocks[i / kGuardBlock].load(std::memory_order_acquire)[i % kGuardBlock]; }
// The handlers that were installed before ours, as immutable copies (never freed).
std::atomic<struct sigaction*> previous_segv{nullptr};
std::atomic<struct sigaction*> previous_bus{nullptr};

pid_t ThreadId() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// Takes a slot's lock; false if this thread holds it already (a fault raised inside the handler).
bool LockSlot(GuardSlot& slot, pid_t self) {
  for (;;) {
    pid_t expected = 0;
    if (slot.owner.compare_exchange_weak(expected, self, std::memory_order_acquire)) return true;
    if (expected == self) return false;
    sched_yield();
  }
}

void UnlockSlot(GuardSlot& slot) { slot.owner.store(0, std::memory_order_release); }

enum class SlotRead { kMiss, kHit, kBusy };

SlotRead ReadSlot(GuardSlot& slot, uintptr_t address, SlotSnapshot* out) {
  out->generation = slot.generation.load(std::memory_order_acquire);
  if ((out->generation & 1) != 0) return SlotRead::kBusy;
  out->start = slot.start.load(std::memory_order_relaxed);
  out->end = slot.end.load(std::memory_order_relaxed);
  bool inside = out->start != 0 && address >= out->start && address < out->end;
  out->mode = slot.mode.load(std::memory_order_relaxed);
  out->fd = slot.fd.load(std::memory_order_relaxed);
  out->file_offset = slot.file_offset.load(std::memory_order_relaxed);
  out->faults = slot.faults.load(std::memory_order_relaxed);
  out->chunks = slot.chunks.load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (slot.generation.load(std::memory_order_relaxed) != out->generation) return SlotRead::kBusy;
  return inside ? SlotRead::kHit : SlotRead::kMiss;
}

// The chunk of a region around `address`: [*from, *from + *size).
void ChunkAround(const SlotSnapshot& s, uintptr_t address, uintptr_t* from, size_t* size) {
  *from = s.start + (address - s.start) / kChunk * kChunk;
  *size = std::min<uintptr_t>(*from + kChunk, PageUp(s.end)) - *from;
}

// A write to a private read-only file mapping: the chunk around it becomes writable, and the kernel
// copies each page as it is first written. Whole chunks, so that scattered writes cannot split the
// mapping into more pieces than the kernel allows (vm.max_map_count).
bool MakeWritable(const SlotSnapshot& s, uintptr_t address) {
  size_t index = (address - s.start) / kChunk;
  if (s.chunks[index] != 0) return true;  // another thread did it: retry the access
  uintptr_t from;
  size_t size;
  ChunkAround(s, address, &from, &size);
  if (mprotect(reinterpret_cast<void*>(from), size, PROT_READ | PROT_WRITE) != 0) return false;
  s.chunks[index] = 1;
  s.faults->fetch_add(static_cast<uint32_t>(size / PageSize()), std::memory_order_relaxed);
  return true;
}

// A write to a read-only System V attachment (which cannot be made writable): a private copy of the
// chunk around it replaces it.
bool CopyChunk(const SlotSnapshot& s, uintptr_t address) {
  size_t index = (address - s.start) / kChunk;
  if (s.chunks[index] != 0) return true;  // another thread replaced it: retry the access
  uintptr_t from;
  size_t size;
  ChunkAround(s, address, &from, &size);
  void* fresh = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (fresh == MAP_FAILED) return false;
  std::memcpy(fresh, reinterpret_cast<void*>(from), size);
  if (mremap(fresh, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, reinterpret_cast<void*>(from)) == MAP_FAILED) {
    munmap(fresh, size);
    return false;
  }
  s.chunks[index] = 1;
  s.faults->fetch_add(static_cast<uint32_t>(size / PageSize()), std::memory_order_relaxed);
  return true;
}

// An access past the end of a file that shrank: zero pages replace the rest of the range. Only if the
// page really is past the end (fstat is safe here; Fstat: compat.h): a SIGBUS for a full filesystem or an
// I/O error is a lost write, and is left to crash as it would in C rather than be hidden.
bool ZeroTail(GuardSlot& slot, const SlotSnapshot& s, uintptr_t page) {
  if (page >= slot.zeroed_from.load(std::memory_order_relaxed)) return true;  // done by another thread
  struct stat stats;
  if (s.fd < 0 || Fstat(s.fd, &stats) != 0) return false;
  uint64_t page_in_file = static_cast<uint64_t>(s.file_offset) + (page - s.start);
  if (page_in_file < PageUp(static_cast<uintptr_t>(stats.st_size))) return false;
  size_t size = PageUp(s.end) - page;
  void* zeros = mmap(reinterpret_cast<void*>(page), size, PROT_READ | PROT_WRITE,
                     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (zeros == MAP_FAILED) return false;
  slot.zeroed_from.store(page, std::memory_order_relaxed);
  s.faults->fetch_add(static_cast<uint32_t>(size / PageSize()), std::memory_order_relaxed);
  return true;
}

bool HandleInSlot(int sig, int code, GuardSlot& slot, const SlotSnapshot& s, uintptr_t address) {
  if (!LockSlot(slot, ThreadId())) return false;
  bool handled;
  if (slot.generation.load(std::memory_order_acquire) != s.generation || (s.mode & kGuardRetired) != 0) {
    // Retired (an inert mapping is in place) or released since (the access will fault as unmapped):
    // either way, run the access again.
    handled = true;
  } else {
    uintptr_t page = address & ~(static_cast<uintptr_t>(PageSize()) - 1);
    handled = false;
    if (sig == SIGSEGV && code == SEGV_ACCERR && (s.mode & kGuardWriteProtect) != 0) handled = MakeWritable(s, address);
    if (sig == SIGSEGV && code == SEGV_ACCERR && (s.mode & kGuardCopyOnWrite) != 0) handled = CopyChunk(s, address);
    if (sig == SIGBUS && code == BUS_ADRERR && (s.mode & kGuardShrink) != 0) handled = ZeroTail(slot, s, page);
  }
  UnlockSlot(slot);
  return handled;
}

void ChainFault(int sig, siginfo_t* info, void* context) {
  const struct sigaction* previous = (sig == SIGSEGV ? previous_segv : previous_bus).load(std::memory_order_acquire);
  bool sent = info->si_code <= 0;  // by kill() or raise(), not by an access
  if (previous != nullptr) {
    if ((previous->sa_flags & SA_SIGINFO) != 0 && previous->sa_sigaction != nullptr) {
      previous->sa_sigaction(sig, info, context);
      return;
    }
    if (previous->sa_handler == SIG_IGN && sent) return;
    if (previous->sa_handler != SIG_DFL && previous->sa_handler != SIG_IGN) {
      previous->sa_handler(sig);
      return;
    }
  }
  // The default action: a faulting access runs again and gets it; a sent signal is raised again.
  struct sigaction fallback {};
  fallback.sa_handler = SIG_DFL;
  sigaction(sig, &fallback, nullptr);
  if (sent) raise(sig);
}

void OnFault(int sig, siginfo_t* info, void* context) {
  int saved_errno = errno;
  bool handled = false;
  if (info->si_code > 0) {
    auto address = reinterpret_cast<uintptr_t>(info->si_addr);
    size_t limit = guard_high_water.load(std::memory_order_acquire);
    for (size_t i = 0; i < limit; i++) {
      SlotSnapshot snapshot;
      SlotRead read;
      while ((read = ReadSlot(SlotAt(i), address, &snapshot)) == SlotRead::kBusy) sched_yield();
      if (read == SlotRead::kMiss) continue;
      handled = HandleInSlot(sig, info->si_code, SlotAt(i), snapshot, address);
      break;
    }
  }
  errno = saved_errno;
  if (!handled) ChainFault(sig, info, context);
}

// Installs the handler, or installs it again if someone replaced it (process.on('SIGBUS') lets libuv
// do that), chaining to whatever is there. Called with the registry lock held.
void EnsureFaultHandler() {
  for (int sig : {SIGSEGV, SIGBUS}) {
    struct sigaction current {};
    sigaction(sig, nullptr, &current);
    if ((current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == OnFault) continue;
    auto* saved = new struct sigaction(current);
    (sig == SIGSEGV ? previous_segv : previous_bus).store(saved, std::memory_order_release);
    struct sigaction action {};
    action.sa_sigaction = OnFault;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigaction(sig, &action, nullptr);
  }
}

// ---- V8, where it is safe ----------------------------------------------------------------------
//
// See the windows below for what it is used for.

// Whether this addon calls V8's C++ API (windows, detaching): decided once, by the first environment.
std::atomic<bool> v8_views{false};

// napi_value is a v8::Local<v8::Value> in Node's implementation (its v8impl casts it the same way).
v8::Local<v8::Value> ToV8(napi_value value) {
  v8::Local<v8::Value> local;
  static_assert(sizeof(local) == sizeof(value), "napi_value and v8::Local differ");
  std::memcpy(static_cast<void*>(&local), &value, sizeof(value));
  return local;
}

napi_value FromV8(v8::Local<v8::Value> local) { return reinterpret_cast<napi_value>(*local); }

// Whether the runtime exports V8's C++ API: Node does; Bun (JavaScriptCore) and Deno do not.
bool V8ApiExported() {
  static const bool exported = dlsym(RTLD_DEFAULT, "_ZN2v82V810GetVersionEv") != nullptr;
  return exported;
}

// The V8 running is the one whose headers this addon was compiled against (major.minor: Node keeps
// V8's ABI within a major), and values cross between Node-API and V8 as assumed above.
bool V8Usable(napi_env env) {
  const char* portable = getenv("UNIPC_PORTABLE_VIEWS");
  if (portable != nullptr && std::strcmp(portable, "1") == 0) return false;
  // Bun (JavaScriptCore) and Deno load Node-API addons without exporting V8's C++ API: the first call
  // into it would end the process with "undefined symbol" (calls bind lazily), so look before calling.
  if (!V8ApiExported()) return false;
  std::string compiled = std::to_string(V8_MAJOR_VERSION) + "." + std::to_string(V8_MINOR_VERSION) + ".";
  if (std::strncmp(v8::V8::GetVersion(), compiled.c_str(), compiled.size()) != 0) return false;
  void* data = nullptr;
  napi_value buffer;
  if (napi_create_arraybuffer(env, 16, &data, &buffer) != napi_ok) return false;
  v8::Local<v8::Value> local = ToV8(buffer);
  if (!local->IsArrayBuffer()) return false;
  v8::Local<v8::ArrayBuffer> seen = local.As<v8::ArrayBuffer>();
  if (seen->Data() != data || seen->ByteLength() != 16) return false;
  napi_typedarray_type type;
  size_t length = 0;
  void* view_data = nullptr;
  if (napi_get_typedarray_info(env, FromV8(v8::Uint8Array::New(seen, 4, 8)), &type, &length, &view_data, nullptr,
                               nullptr) != napi_ok) {
    return false;
  }
  return type == napi_uint8_array && length == 8 && view_data == static_cast<uint8_t*>(data) + 4;
}

// Detaches an ArrayBuffer with `key` (empty: none). Through V8 a buffer that refuses (a detach key that
// someone else set) is reported; napi_detach_arraybuffer would abort the process instead, from Node 24 on.
bool DetachBuffer(napi_env env, napi_value buffer, v8::Local<v8::Value> key) {
  if (!v8_views) return napi_detach_arraybuffer(env, buffer) == napi_ok;
  v8::Local<v8::Value> value = ToV8(buffer);
  if (!value->IsArrayBuffer()) return false;
  v8::TryCatch refusal(v8::Isolate::GetCurrent());
  return value.As<v8::ArrayBuffer>()->Detach(key).IsJust();
}

// ---- Regions and views --------------------------------------------------------------------------

struct Region {
  uint64_t id = 0;
  uint8_t* address = nullptr;
  size_t length = 0;
  bool shared = true;
  bool writable = true;
  int fd = -1;  // for the shrink guard
  GuardSlot* slot = nullptr;
  std::unique_ptr<uint8_t[]> chunks;
  int views = 0;  // open views
  int holds = 0;  // temporary holds (msync)
  int pins = 0;   // ArrayBuffer objects and backing stores that may still point here
  bool retired = false;
  std::atomic<uint32_t> faults{0};
};

struct View {
  uint64_t id = 0;
  Region* region = nullptr;
  napi_ref buffer = nullptr;  // weak: to recognise the buffer in closeView
  bool open = true;           // counted in region->views
  bool object_done = false;   // the ArrayBuffer object was collected
  bool store_done = false;    // its backing store was released
  bool detached = false;      // close() detached the buffer itself: its store had no other holder
  size_t external = 0;        // bytes reported to V8 as external memory while the object lingers
};

struct Registry {
  std::mutex mu;
  std::unordered_map<uint64_t, Region*> regions;
  std::unordered_map<uint64_t, View*> views;
  std::unordered_multiset<uintptr_t> cut_windows;  // Node-API windows detach() cut off, until finalized
  uint64_t next_id = 0;
};

Registry& TheRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry();
    // Ids start somewhere random, so that a share() token from another process names nothing here.
    r->next_id = (std::random_device{}() & 0xFFFFFull) << 24 | 1;
    return r;
  }();
  return *registry;
}

// Changes a slot under its owner lock (so no handler is half-way through it) and a generation bump.
template <typename Change>
void ChangeSlot(GuardSlot& slot, Change change) {
  LockSlot(slot, ThreadId());
  uint64_t generation = slot.generation.load(std::memory_order_relaxed);
  slot.generation.store(generation + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  change(slot);
  slot.generation.store(generation + 2, std::memory_order_release);
  UnlockSlot(slot);
}

void ClearSlotLocked(Region* region) {
  if (region->slot == nullptr) return;
  ChangeSlot(*region->slot, [](GuardSlot& slot) {
    slot.start.store(0, std::memory_order_relaxed);
    slot.faults.store(nullptr, std::memory_order_relaxed);
    slot.chunks.store(nullptr, std::memory_order_relaxed);
    slot.fd.store(-1, std::memory_order_relaxed);
  });
  region->slot = nullptr;
}

bool PublishSlotLocked(Region* region, int guard, int64_t file_offset) {
  for (size_t i = 0; i < kGuardSlots; i++) {
    std::atomic<GuardSlot*>& block = guard_blocks[i / kGuardBlock];
    if (block.load(std::memory_order_relaxed) == nullptr)
      block.store(new GuardSlot[kGuardBlock], std::memory_order_release);
    GuardSlot& slot = SlotAt(i);
    if (slot.start.load(std::memory_order_relaxed) != 0) continue;
    ChangeSlot(slot, [&](GuardSlot& s) {
      s.end.store(reinterpret_cast<uintptr_t>(region->address) + region->length, std::memory_order_relaxed);
      s.mode.store(guard, std::memory_order_relaxed);
      s.fd.store(region->fd, std::memory_order_relaxed);
      s.file_offset.store(file_offset, std::memory_order_relaxed);
      s.faults.store(&region->faults, std::memory_order_relaxed);
      s.chunks.store(region->chunks.get(), std::memory_order_relaxed);
      s.zeroed_from.store(UINTPTR_MAX, std::memory_order_relaxed);
      s.start.store(reinterpret_cast<uintptr_t>(region->address), std::memory_order_relaxed);
    });
    if (i + 1 > guard_high_water.load(std::memory_order_relaxed))
      guard_high_water.store(i + 1, std::memory_order_release);
    region->slot = &slot;
    return true;
  }
  return false;
}

void MaybeReleaseLocked(Registry& registry, Region* region) {
  if (!region->retired || region->pins > 0) return;
  ClearSlotLocked(region);  // nothing can touch the range any more
  if (region->fd >= 0) close(region->fd);
  munmap(region->address, PageUp(region->length));
  registry.regions.erase(region->id);
  delete region;
}

// Lays an inert anonymous mapping over the pages: the file or segment is let go at once (for a System
// V attachment this is the detach: nattch, dtime and lpid change as with shmdt), while the addresses
// stay valid memory until nothing can point at them. The guard stays on until the inert mapping is in
// place, and its slot is kept (marked retired, so the handler just retries there) until release.
int64_t RetireLocked(Registry& registry, Region* region) {
  region->retired = true;
  void* inert = mmap(region->address, PageUp(region->length), PROT_READ | PROT_WRITE,
                     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (inert == MAP_FAILED) {
    int64_t failure = -errno;  // the pages stay, guarded, until the region is released
    MaybeReleaseLocked(registry, region);
    return failure;
  }
  if (region->slot != nullptr) {
    ChangeSlot(*region->slot, [](GuardSlot& slot) {
      slot.mode.store(slot.mode.load(std::memory_order_relaxed) | kGuardRetired, std::memory_order_relaxed);
      slot.fd.store(-1, std::memory_order_relaxed);
    });
  }
  if (region->fd >= 0) {
    close(region->fd);
    region->fd = -1;
  }
  MaybeReleaseLocked(registry, region);
  return 0;
}

int64_t MaybeRetireLocked(Registry& registry, Region* region) {
  if (region->retired || region->views > 0 || region->holds > 0) return 0;
  return RetireLocked(registry, region);
}

int64_t CloseViewLocked(Registry& registry, View* view) {
  if (!view->open) return 0;
  view->open = false;
  view->region->views--;
  return MaybeRetireLocked(registry, view->region);
}

void UnpinLocked(Registry& registry, Region* region) {
  region->pins--;
  MaybeReleaseLocked(registry, region);
}

void ForgetViewLocked(Registry& registry, View* view) {
  registry.views.erase(view->id);
  delete view;
}

void* IdHint(uint64_t id) { return reinterpret_cast<void*>(static_cast<uintptr_t>(id)); }
uint64_t HintId(void* hint) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(hint)); }

napi_value Nothing(napi_env, napi_callback_info) { return nullptr; }

// Whether JavaScript can still run in env: not while it is being torn down. (With an exception pending
// — Node calling the finalizer at once because making the buffer failed — it can, but must not be tried.)
// The environment of this thread, set as the addon is initialized there. Deno releases the backing store
// of an external ArrayBuffer on one of V8's background threads (its array buffer sweeper), where no
// Node-API call may be made into env: a release there is the garbage collector's, never a forced one.
// Once the environment's cleanup hooks have run, its releases are forced, and Node-API is not asked: Deno
// panics on a handle of an isolate it has disposed (the main thread's stores, after a worker ended).
thread_local napi_env javascript_env = nullptr;
thread_local bool javascript_env_torn_down = false;

bool CanRunJavaScript(napi_env env) {
  if (env != javascript_env) return true;
  if (javascript_env_torn_down) return false;
  // Only Node forces releases, told by calling into it. Bun and Deno (which export no V8 C++ API) release
  // a store only when its last holder lets go; Deno also on this thread outside any HandleScope (an async
  // fs op that held a buffer close() detached completes), where making a handle aborts the process, and
  // its napi_open_handle_scope opens none.
  if (!V8ApiExported()) return true;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return true;
  napi_value global, function, result;
  return napi_get_global(env, &global) == napi_ok &&
         napi_create_function(env, "unipc", NAPI_AUTO_LENGTH, Nothing, nullptr, &function) == napi_ok &&
         napi_call_function(env, global, function, 0, nullptr, &result) == napi_ok;
}

// V8 let go of the backing store: after close() detached the buffer, or when the last buffer sharing
// it was collected. Or Node forces it while tearing the environment down — even if a buffer sharing
// the store (one a byte stream's BYOB read moved the memory into, then posted to another thread)
// lives on elsewhere; the addresses must then stay reserved for good.
void OnStoreReleased(napi_env env, void*, void* hint) {
  bool forced = !CanRunJavaScript(env);
  Registry& registry = TheRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  auto it = registry.views.find(HintId(hint));
  if (it == registry.views.end() || it->second->store_done) return;
  View* view = it->second;
  Region* region = view->region;  // alive: this view's pins are not released yet
  // A buffer close() detached held the store alone, so its release is genuine even when Node runs it
  // during teardown (a worker that closed its mapping and ended before the deferred finalizer ran).
  bool genuine = !forced || view->detached;
  CloseViewLocked(registry, view);
  view->store_done = true;
  if (view->object_done) ForgetViewLocked(registry, view);
  if (genuine) UnpinLocked(registry, region);
}

// The ArrayBuffer object was garbage-collected (or its environment torn down): nothing in JavaScript,
// nor any Node job holding it, can use the pointer any more.
void OnObjectCollected(napi_env env, void* data, void*) {
  uint64_t id = HintId(data);
  napi_ref buffer = nullptr;
  size_t external = 0;
  {
    Registry& registry = TheRegistry();
    std::lock_guard<std::mutex> lock(registry.mu);
    auto it = registry.views.find(id);
    if (it == registry.views.end()) return;
    View* view = it->second;
    Region* region = view->region;
    view->object_done = true;
    buffer = view->buffer;
    view->buffer = nullptr;
    external = view->external;
    if (view->store_done) ForgetViewLocked(registry, view);
    UnpinLocked(registry, region);
  }
  if (buffer != nullptr) napi_delete_reference(env, buffer);
  int64_t unused;
  if (external > 0) napi_adjust_external_memory(env, -static_cast<int64_t>(external), &unused);
}

// A new view of a region; the caller has counted it in region->views already.
Napi::Value CreateView(Napi::Env env, Region* region) {
  Registry& registry = TheRegistry();
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(registry.mu);
    id = registry.next_id++;
    auto* view = new View();
    view->id = id;
    view->region = region;
    registry.views[id] = view;
    region->pins += 2;  // the ArrayBuffer object, and its backing store
  }
  napi_value buffer;
  napi_status status =
      napi_create_external_arraybuffer(env, region->address, region->length, OnStoreReleased, IdHint(id), &buffer);
  if (status != napi_ok) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
    std::lock_guard<std::mutex> lock(registry.mu);
    auto it = registry.views.find(id);
    if (it != registry.views.end()) {
      View* view = it->second;
      if (!view->store_done) {  // Node may or may not have called the finalizer itself
        CloseViewLocked(registry, view);
        view->store_done = true;
        UnpinLocked(registry, region);
      }
      ForgetViewLocked(registry, view);
    }
    UnpinLocked(registry, region);  // the object that never was
    return Result(env, -ENOMEM);
  }
  napi_ref reference = nullptr;
  napi_create_reference(env, buffer, 0, &reference);
  // Should adding the finalizer fail, the object's pin stays: the addresses then stay reserved, safely.
  napi_add_finalizer(env, buffer, IdHint(id), OnObjectCollected, nullptr, nullptr);
  {
    std::lock_guard<std::mutex> lock(registry.mu);
    auto it = registry.views.find(id);
    if (it != registry.views.end()) it->second->buffer = reference;
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("buffer", Napi::Value(env, buffer));
  result.Set("view", Napi::Number::New(env, static_cast<double>(id)));
  result.Set("region", Napi::Number::New(env, static_cast<double>(region->id)));
  result.Set("shared", Napi::Boolean::New(env, region->shared));
  result.Set("writable", Napi::Boolean::New(env, region->writable));
  return result;
}

// mmap(length, prot, flags, fd, offset, guard, shared, writable) → view object or -errno
Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Args args(info);
  double length = args.Double(0);
  int prot = args.Int32(1);
  int flags = args.Int32(2);
  int fd = args.Int32(3);
  int64_t offset = args.Int64(4);
  int guard = args.Int32(5);
  bool shared = args.Bool(6);
  bool writable = args.Bool(7);
  if (!args.ok()) return info.Env().Undefined();
  if (length <= 0) return Result(info.Env(), -EINVAL);
  void* address = mmap(nullptr, static_cast<size_t>(length), prot, flags, fd, static_cast<off_t>(offset));
  if (address == MAP_FAILED) return Result(info.Env(), -errno);
  RegionSpec spec;
  spec.address = address;
  spec.length = static_cast<size_t>(length);
  spec.guard = guard;
  spec.fd = (guard & kGuardShrink) != 0 ? fd : -1;
  spec.file_offset = offset;
  spec.shared = shared;
  spec.writable = writable;
  return NewRegion(info.Env(), spec);
}

// viewRegion(region) → view object, or -EBADF once every view of it is closed: the same pages again,
// e.g. for a worker thread.
Napi::Value ViewRegion(const Napi::CallbackInfo& info) {
  Args args(info);
  int64_t id = args.Int64(0);
  if (!args.ok()) return info.Env().Undefined();
  Registry& registry = TheRegistry();
  Region* region = nullptr;
  {
    std::lock_guard<std::mutex> lock(registry.mu);
    auto it = registry.regions.find(static_cast<uint64_t>(id));
    if (it != registry.regions.end() && !it->second->retired && it->second->views > 0) {
      region = it->second;
      region->views++;
    }
  }
  if (region == nullptr) return Result(info.Env(), -EBADF);
  return CreateView(info.Env(), region);
}

// closeView(view, buffer) → 0, or -errno when retiring the region failed. The buffer must be this
// view's own; it is detached first, so no TypedArray over it reaches the pages any more.
Napi::Value CloseView(const Napi::CallbackInfo& info) {
  Args args(info);
  int64_t id = args.Int64(0);
  if (!args.ok()) return info.Env().Undefined();
  napi_env env = info.Env();
  napi_value buffer = info[1];
  Registry& registry = TheRegistry();
  napi_ref reference = nullptr;
  bool open = false;
  {
    std::lock_guard<std::mutex> lock(registry.mu);
    auto it = registry.views.find(static_cast<uint64_t>(id));
    if (it != registry.views.end()) {
      reference = it->second->buffer;
      open = it->second->open;
    }
  }
  if (reference == nullptr) return Result(env, -EBADF);
  napi_value own = nullptr;
  bool same = false;
  if (napi_get_reference_value(env, reference, &own) != napi_ok || own == nullptr ||
      napi_strict_equals(env, own, buffer, &same) != napi_ok || !same) {
    return Result(env, -EINVAL);
  }
  if (!open) return Result(env, 0);  // closed already: a buffer it was moved into was collected
  bool detached = false;
  napi_is_detached_arraybuffer(env, buffer, &detached);
  // Already detached means a byte stream or transfer() moved the memory into another buffer, whose
  // lifetime the backing store's pin covers. A buffer someone gave a detach key (markAsUntransferable()
  // does from Node 24 on) cannot be cut off: it reaches the inert pages after close instead of none.
  bool cut = !detached && DetachBuffer(env, buffer, v8::Local<v8::Value>());
  int64_t result = 0;
  size_t external = 0;
  {
    std::lock_guard<std::mutex> lock(registry.mu);
    auto it = registry.views.find(static_cast<uint64_t>(id));
    if (it != registry.views.end()) {
      View* view = it->second;
      view->detached = cut;
      // Until the object is collected the range stays reserved: let V8 know, so it collects sooner.
      if (!view->object_done) external = view->external = PageUp(view->region->length);
      result = CloseViewLocked(registry, view);
    }
  }
  int64_t unused;
  if (external > 0) napi_adjust_external_memory(env, static_cast<int64_t>(external), &unused);
  return Result(env, result);
}

// mappingStats() → { regions, retired, bytes, retiredBytes }: the process's mapped regions, and those of
// them retired (inert, reserved until every buffer that could reach them is gone). For diagnostics.
Napi::Value MappingStats(const Napi::CallbackInfo& info) {
  Registry& registry = TheRegistry();
  double regions = 0, retired = 0, bytes = 0, retired_bytes = 0;
  {
    std::lock_guard<std::mutex> lock(registry.mu);
    for (const auto& [id, region] : registry.regions) {
      regions++;
      bytes += static_cast<double>(region->length);
      if (region->retired) {
        retired++;
        retired_bytes += static_cast<double>(region->length);
      }
    }
  }
  Napi::Object stats = Napi::Object::New(info.Env());
  stats.Set("regions", regions);
  stats.Set("retired", retired);
  stats.Set("bytes", bytes);
  stats.Set("retiredBytes", retired_bytes);
  return stats;
}

// faultedPages(region) → pages the fault guard replaced, or -EBADF once the region is gone.
Napi::Value FaultedPages(const Napi::CallbackInfo& info) {
  Args args(info);
  int64_t id = args.Int64(0);
  if (!args.ok()) return info.Env().Undefined();
  Registry& registry = TheRegistry();
  int64_t faults;
  {
    std::lock_guard<std::mutex> lock(registry.mu);
    auto it = registry.regions.find(static_cast<uint64_t>(id));
    faults = it == registry.regions.end() || it->second->retired ? -EBADF : it->second->faults.load();
  }
  return Result(info.Env(), faults);
}

BlockingCall MsyncCall(std::shared_ptr<RegionHold> hold, size_t offset, size_t length, int flags) {
  return [hold, offset, length, flags]() -> int64_t {
    return SyscallResult(msync(hold->address() + offset, length, flags));
  };
}

// The page-aligned span covering [offset, offset + length) of the region, or false if outside it.
bool SyncSpan(size_t region_length, double offset, double length, size_t* start, size_t* span) {
  if (offset < 0 || length < 0 || offset + length > static_cast<double>(region_length)) return false;
  *start = static_cast<size_t>(offset) & ~(PageSize() - 1);
  *span = static_cast<size_t>(offset + length) - *start;
  return true;
}

// msync(region, offset, length, flags) → 0. MS_SYNC waits for the write-back on the calling thread.
Napi::Value Msync(const Napi::CallbackInfo& info) {
  Args args(info);
  int64_t id = args.Int64(0);
  double offset = args.Double(1);
  double length = args.Double(2);
  int flags = args.Int32(3);
  if (!args.ok()) return info.Env().Undefined();
  std::shared_ptr<RegionHold> hold = RegionHold::Take(static_cast<uint64_t>(id));
  size_t start, span;
  if (!hold) return Result(info.Env(), -EBADF);
  if (!SyncSpan(hold->length(), offset, length, &start, &span)) return Result(info.Env(), -EINVAL);
  return Result(info.Env(), RunSync(MsyncCall(hold, start, span, flags), -1));
}

// msyncAsync(region, offset, length, flags, callback(result)) → wait id; the write-back is waited for
// on a waiter thread, which holds the region until it is done.
Napi::Value MsyncAsync(const Napi::CallbackInfo& info) {
  Args args(info);
  int64_t id = args.Int64(0);
  double offset = args.Double(1);
  double length = args.Double(2);
  int flags = args.Int32(3);
  Napi::Function callback = args.Function(4);
  if (!args.ok()) return info.Env().Undefined();
  std::shared_ptr<RegionHold> hold = RegionHold::Take(static_cast<uint64_t>(id));
  size_t start, span;
  if (!hold) return Result(info.Env(), -EBADF);
  if (!SyncSpan(hold->length(), offset, length, &start, &span)) return Result(info.Env(), -EINVAL);
  return StartWait(info.Env(), MsyncCall(hold, start, span, flags), callback);
}

// memfdCreate(name, flags) → fd
Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Args args(info);
  std::string name = args.String(0);
  unsigned flags = args.Uint32(1);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(memfd_create(name.c_str(), flags)));
}

// ftruncate(fd, length) → 0
Napi::Value Ftruncate(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  int64_t length = args.Int64(1);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(ftruncate(fd, static_cast<off_t>(length))));
}

// fallocate(fd, offset, length) → 0: reserves the space, so that writes through a mapping cannot meet a
// full filesystem (which is SIGBUS) later.
Napi::Value Fallocate(const Napi::CallbackInfo& info) {
  Args args(info);
  int fd = args.Int32(0);
  int64_t offset = args.Int64(1);
  int64_t length = args.Int64(2);
  if (!args.ok()) return info.Env().Undefined();
  return Result(info.Env(), SyscallResult(fallocate(fd, 0, static_cast<off_t>(offset), static_cast<off_t>(length))));
}

}  // namespace

std::shared_ptr<RegionHold> RegionHold::Take(uint64_t id) {
  Registry& registry = TheRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  auto it = registry.regions.find(id);
  if (it == registry.regions.end() || it->second->retired) return nullptr;
  Region* region = it->second;
  region->holds++;
  return std::shared_ptr<RegionHold>(new RegionHold(region, region->address, region->length));
}

RegionHold::~RegionHold() {
  Registry& registry = TheRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  Region* region = static_cast<Region*>(region_);
  region->holds--;
  MaybeRetireLocked(registry, region);
}

Napi::Value NewRegion(Napi::Env env, const RegionSpec& spec) {
  auto* region = new Region();
  region->address = static_cast<uint8_t*>(spec.address);
  region->length = spec.length;
  region->shared = spec.shared;
  region->writable = spec.writable;
  region->views = 1;  // the view made below
  Registry& registry = TheRegistry();
  int64_t failure = 0;
  {
    std::lock_guard<std::mutex> lock(registry.mu);
    region->id = registry.next_id++;
    registry.regions[region->id] = region;
    if (spec.fd >= 0) {
      region->fd = fcntl(spec.fd, F_DUPFD_CLOEXEC, 0);
      if (region->fd < 0) failure = -errno;
    }
    if (failure == 0 && spec.guard != kGuardNone) {
      EnsureFaultHandler();
      if ((spec.guard & (kGuardCopyOnWrite | kGuardWriteProtect)) != 0) {
        region->chunks.reset(new uint8_t[spec.length / kChunk + 1]());
      }
      if (!PublishSlotLocked(region, spec.guard, spec.file_offset)) failure = -ENOMEM;  // unguarded: not handed out
    }
    if (failure != 0) {
      region->views = 0;
      RetireLocked(registry, region);  // no pins: released at once
    }
  }
  if (failure != 0) return Result(env, failure);
  return CreateView(env, region);
}

// ---- Windows: short-lived buffers over a region, for the channel's zero-copy messages ------------
//
// A message view must stop reaching the ring when it is released, or a reader would see the next lap's
// bytes; so it must be detachable by us, and must not be transferable to another thread, where release()
// could not reach it. Each message therefore gets an ArrayBuffer of its own, over just its bytes (a
// buffer spanning the region would reach the header and every other message). Two ways to make one:
//
// - Through V8 itself (the fast way): a small object and a backing store that holds the source's store,
//   which pins the region. V8 releases them, possibly on a GC thread, once the windows are detached or
//   collected and the source is gone. Used only where the V8 running is the one this addon was compiled
//   against and a self-test at load time passes (V8's C++ API has no stable ABI across versions, and a
//   napi_value is a v8::Local only by Node's implementation of Node-API).
// - Through Node-API everywhere else (UNIPC_PORTABLE_VIEWS=1 forces it): an external ArrayBuffer, which
//   Node marks untransferable itself. It costs microseconds more, and Node frees its bookkeeping (~200 B)
//   only when the event loop turns: a Sync loop that never yields grows by that much per view.
//
// V8 windows are kept in this thread in one of two ways, chosen in src/channel.ts: up to Node 22,
// markAsUntransferable() (a private mark; detach still works); from Node 24 on, markAsUntransferable()
// also sets a detach key that nobody can detach with, so these windows get a detach key of our own,
// which makes structuredClone(), postMessage() and ArrayBuffer.prototype.transfer() refuse them. (A
// detach key on Node 20 or 22 would abort the process in postMessage() or transfer().)

struct WindowSource {
  uint64_t region = 0;
  uint8_t* address = nullptr;
  size_t length = 0;
  std::shared_ptr<v8::BackingStore> store;  // V8 windows: each window's store holds it; it holds a pin
  v8::Global<v8::Value> key;                // V8 windows with a detach key of our own; empty otherwise
};

void OnWindowStoreReleased(void*, size_t, void* hint) {
  Registry& registry = TheRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  auto it = registry.regions.find(HintId(hint));
  if (it != registry.regions.end()) UnpinLocked(registry, it->second);
}

void DeleteWindowSource(napi_env, void* data, void*) {
  auto* source = static_cast<WindowSource*>(data);
  if (!source->store) OnWindowStoreReleased(nullptr, 0, IdHint(source->region));  // the source's own pin
  source->key.Reset();
  delete source;  // a V8 store goes when its last window does
}

// windowSource(region, keyed) → an external that windows are made from, or -EBADF once every view of
// the region is closed. `keyed`: V8 windows get a detach key of their own.
Napi::Value NewWindowSource(const Napi::CallbackInfo& info) {
  Args args(info);
  int64_t id = args.Int64(0);
  bool keyed = args.Bool(1);
  if (!args.ok()) return info.Env().Undefined();
  Registry& registry = TheRegistry();
  auto* source = new WindowSource();
  source->region = static_cast<uint64_t>(id);
  {
    std::lock_guard<std::mutex> lock(registry.mu);
    auto it = registry.regions.find(source->region);
    if (it == registry.regions.end() || it->second->retired || it->second->views == 0) {
      delete source;
      return Result(info.Env(), -EBADF);
    }
    it->second->pins++;  // the V8 store's, or the source's own
    source->address = it->second->address;
    source->length = it->second->length;
  }
  if (v8_views) {
    source->store = v8::ArrayBuffer::NewBackingStore(source->address, source->length, OnWindowStoreReleased,
                                                     IdHint(source->region));
    v8::Isolate* isolate = v8::Isolate::GetCurrent();
    if (keyed) source->key.Reset(isolate, v8::Symbol::New(isolate));
  }
  napi_value external;
  if (napi_create_external(info.Env(), source, DeleteWindowSource, nullptr, &external) != napi_ok) {
    DeleteWindowSource(info.Env(), source, nullptr);
    return Result(info.Env(), -ENOMEM);
  }
  return Napi::Value(info.Env(), external);
}

void OnV8WindowReleased(void*, size_t, void* source_store) {
  delete static_cast<std::shared_ptr<v8::BackingStore>*>(source_store);
}

// A Node-API window's bytes are no longer reachable, or Node forces this while tearing the environment
// down. Forced, it is trusted only for a window detach() cut off (its store had no other holder); one
// that ArrayBuffer.prototype.transfer() moved elsewhere keeps the addresses reserved for good.
void OnNodeApiWindowReleased(napi_env env, void* data, void* hint) {
  bool forced = !CanRunJavaScript(env);
  Registry& registry = TheRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  auto cut = registry.cut_windows.find(reinterpret_cast<uintptr_t>(data));
  bool was_cut = cut != registry.cut_windows.end();
  if (was_cut) registry.cut_windows.erase(cut);
  if (forced && !was_cut) return;
  auto it = registry.regions.find(HintId(hint));
  if (it != registry.regions.end()) UnpinLocked(registry, it->second);
}

bool WindowArgs(napi_env env, napi_callback_info info, size_t count, napi_value* argv, WindowSource** source) {
  size_t argc = count;
  void* data = nullptr;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < count ||
      napi_get_value_external(env, argv[0], &data) != napi_ok || data == nullptr) {
    return false;
  }
  *source = static_cast<WindowSource*>(data);
  return true;
}

// window(source, offset, length) → a Uint8Array over [offset, offset + length) of the region, in an
// ArrayBuffer of exactly those bytes, which detach() cuts off. Offsets are the caller's to check.
napi_value Window(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  WindowSource* source = nullptr;
  double offset = 0, length = 0;
  if (!WindowArgs(env, info, 3, argv, &source) || napi_get_value_double(env, argv[1], &offset) != napi_ok ||
      napi_get_value_double(env, argv[2], &length) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "window(source, offset, length)");
    return nullptr;
  }
  if (!(offset >= 0 && length >= 0 && offset + length <= static_cast<double>(source->length))) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "window outside the region");
    return nullptr;
  }
  uint8_t* start = source->address + static_cast<size_t>(offset);
  size_t size = static_cast<size_t>(length);
  if (source->store) {
    auto* held = new std::shared_ptr<v8::BackingStore>(source->store);
    v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(
        v8::Isolate::GetCurrent(), v8::ArrayBuffer::NewBackingStore(start, size, OnV8WindowReleased, held));
    if (!source->key.IsEmpty()) buffer->SetDetachKey(source->key.Get(v8::Isolate::GetCurrent()));
    return FromV8(v8::Uint8Array::New(buffer, 0, size));
  }
  {
    Registry& registry = TheRegistry();
    std::lock_guard<std::mutex> lock(registry.mu);
    registry.regions.at(source->region)->pins++;  // there: the source's own pin keeps it registered
  }
  napi_value buffer, view;
  if (napi_create_external_arraybuffer(env, start, size, OnNodeApiWindowReleased, IdHint(source->region), &buffer) !=
      napi_ok) {
    return nullptr;  // an exception is pending; should Node not call the finalizer, the pin stays (safely)
  }
  if (napi_create_typedarray(env, napi_uint8_array, size, buffer, 0, &view) != napi_ok) return nullptr;
  return view;
}

// detach(source, arrayBuffer): every view over a window from `source` reads as empty from now on.
napi_value Detach(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  WindowSource* source = nullptr;
  bool is_buffer = false;
  if (!WindowArgs(env, info, 2, argv, &source) || napi_is_arraybuffer(env, argv[1], &is_buffer) != napi_ok ||
      !is_buffer) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "detach(source, arrayBuffer)");
    return nullptr;
  }
  bool detached = false;
  napi_is_detached_arraybuffer(env, argv[1], &detached);
  if (detached) return nullptr;  // moved away by transfer() (not a V8 window with a key): nothing here to cut
  void* data = nullptr;
  napi_get_arraybuffer_info(env, argv[1], &data, nullptr);
  v8::Local<v8::Value> key;
  if (!source->key.IsEmpty()) key = source->key.Get(v8::Isolate::GetCurrent());
  if (!DetachBuffer(env, argv[1], key)) {
    napi_throw_error(env, "ERR_INVALID_STATE", "the window could not be detached");
    return nullptr;
  }
  if (!source->store) {
    // Noted before its finalizer can run: Node defers that to the event loop, on this thread.
    Registry& registry = TheRegistry();
    std::lock_guard<std::mutex> lock(registry.mu);
    registry.cut_windows.insert(reinterpret_cast<uintptr_t>(data));
  }
  return nullptr;
}

// tryDetach(arrayBuffer) → whether it could be detached without a key (V8 views only): whether
// markAsUntransferable() leaves buffers detachable, asked of a buffer made for the question.
napi_value TryDetach(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value buffer;
  napi_value result;
  bool detached = napi_get_cb_info(env, info, &argc, &buffer, nullptr, nullptr) == napi_ok && argc == 1 && v8_views &&
                  DetachBuffer(env, buffer, v8::Local<v8::Value>());
  napi_get_boolean(env, detached, &result);
  return result;
}

void InitMmap(Napi::Env env, Napi::Object exports) {
  javascript_env = env;
  javascript_env_torn_down = false;
  // Registered after the runtime's own hook that finalizes the environment's references, so run before it.
  napi_add_env_cleanup_hook(
      env, [](void*) { javascript_env_torn_down = true; }, nullptr);
  UNIPC_EXPORT(exports, "mmap", Mmap);
  UNIPC_EXPORT(exports, "viewRegion", ViewRegion);
  UNIPC_EXPORT(exports, "closeView", CloseView);
  static const bool usable = V8Usable(env);
  v8_views = usable;
  exports.Set("v8Views", Napi::Boolean::New(env, usable));
  UNIPC_EXPORT(exports, "windowSource", NewWindowSource);
  const std::pair<const char*, napi_callback> functions[] = {
      {"window", Window}, {"detach", Detach}, {"tryDetach", TryDetach}};
  for (const auto& [name, function] : functions) {
    napi_value value;
    napi_create_function(env, name, NAPI_AUTO_LENGTH, function, nullptr, &value);
    exports.Set(name, Napi::Value(env, value));
  }
  UNIPC_EXPORT(exports, "faultedPages", FaultedPages);
  UNIPC_EXPORT(exports, "mappingStats", MappingStats);
  UNIPC_EXPORT(exports, "msync", Msync);
  UNIPC_EXPORT(exports, "msyncAsync", MsyncAsync);
  UNIPC_EXPORT(exports, "memfdCreate", MemfdCreate);
  UNIPC_EXPORT(exports, "ftruncate", Ftruncate);
  UNIPC_EXPORT(exports, "fallocate", Fallocate);

  Napi::Object c = ConstantsOf(exports);
  c.Set("PAGE_SIZE", Napi::Number::New(env, static_cast<double>(PageSize())));
  UNIPC_CONSTANT(c, PROT_READ);
  UNIPC_CONSTANT(c, PROT_WRITE);
  UNIPC_CONSTANT(c, MAP_SHARED);
  UNIPC_CONSTANT(c, MAP_PRIVATE);
  UNIPC_CONSTANT(c, MAP_ANONYMOUS);
  UNIPC_CONSTANT(c, MAP_NORESERVE);
  UNIPC_CONSTANT(c, MS_SYNC);
  UNIPC_CONSTANT(c, MS_ASYNC);
  UNIPC_CONSTANT(c, MS_INVALIDATE);
  UNIPC_CONSTANT(c, MFD_CLOEXEC);
  UNIPC_CONSTANT(c, MFD_ALLOW_SEALING);
  UNIPC_CONSTANT(c, F_ADD_SEALS);
  UNIPC_CONSTANT(c, F_GET_SEALS);
  UNIPC_CONSTANT(c, F_SEAL_SEAL);
  UNIPC_CONSTANT(c, F_SEAL_SHRINK);
  UNIPC_CONSTANT(c, F_SEAL_GROW);
  UNIPC_CONSTANT(c, F_SEAL_WRITE);
  c.Set("GUARD_WRITE_PROTECT", Napi::Number::New(env, kGuardWriteProtect));
  c.Set("GUARD_COPY_ON_WRITE", Napi::Number::New(env, kGuardCopyOnWrite));
  c.Set("GUARD_SHRINK", Napi::Number::New(env, kGuardShrink));
}

}  // namespace unipc
