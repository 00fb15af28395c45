// Memory mapping: mmap/munmap/msync, memfd_create/ftruncate, and the region registry and fault guard
// that keep JavaScript's views of mapped memory safe (mmap.h).
#include "mmap.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "common.h"
#include "wait.h"

namespace unipc {
namespace {

size_t PageSize() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

// ---- The fault guard ----------------------------------------------------------------------------
//
// A table the signal handler reads without locks: a slot is published by storing `end` and `mode`
// before `start`, and retired by clearing `start` first. A slot can only be retired when no view of its
// region is left, so no thread can be faulting in it at that moment.

struct GuardSlot {
  std::atomic<uintptr_t> start{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<int> mode{0};
  std::atomic<std::atomic<uint32_t>*> faults{nullptr};
};

constexpr size_t kGuardSlots = 65536;  // as many as vm.max_map_count allows mappings, by default
GuardSlot* guard_slots = nullptr;      // allocated once, never freed (handlers may run at exit)
struct sigaction previous_segv, previous_bus;

// Replaces the page at `page` with a private anonymous one: a copy of its contents (a write to a
// read-only page) or zeros (a page past the end of a shrunk file). mmap and mremap are plain system
// calls, safe in a signal handler.
bool ReplacePage(uintptr_t page, bool copy) {
  size_t size = PageSize();
  void* fresh = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (fresh == MAP_FAILED) return false;
  if (copy) std::memcpy(fresh, reinterpret_cast<void*>(page), size);
  void* moved = mremap(fresh, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, reinterpret_cast<void*>(page));
  if (moved == MAP_FAILED) {
    munmap(fresh, size);
    return false;
  }
  return true;
}

void ChainFault(int sig, siginfo_t* info, void* context) {
  const struct sigaction& previous = sig == SIGSEGV ? previous_segv : previous_bus;
  if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
    previous.sa_sigaction(sig, info, context);
    return;
  }
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
    return;
  }
  // Nobody else handles it: restore the default action, and the faulting access, run again, gets it.
  struct sigaction fallback {};
  fallback.sa_handler = SIG_DFL;
  sigaction(sig, &fallback, nullptr);
}

void OnFault(int sig, siginfo_t* info, void* context) {
  int needed = 0;
  if (sig == SIGSEGV && info->si_code == SEGV_ACCERR) needed = kGuardReadOnly;
  if (sig == SIGBUS && info->si_code == BUS_ADRERR) needed = kGuardShrink;
  auto address = reinterpret_cast<uintptr_t>(info->si_addr);
  if (needed != 0 && guard_slots != nullptr) {
    for (size_t i = 0; i < kGuardSlots; i++) {
      GuardSlot& slot = guard_slots[i];
      uintptr_t start = slot.start.load(std::memory_order_acquire);
      if (start == 0 || address < start || address >= slot.end.load(std::memory_order_relaxed)) continue;
      if ((slot.mode.load(std::memory_order_relaxed) & needed) == 0) break;
      uintptr_t page = address & ~(static_cast<uintptr_t>(PageSize()) - 1);
      if (ReplacePage(page, sig == SIGSEGV)) {
        if (std::atomic<uint32_t>* faults = slot.faults.load(std::memory_order_relaxed)) faults->fetch_add(1);
        return;
      }
      break;
    }
  }
  ChainFault(sig, info, context);
}

void InstallFaultHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    guard_slots = new GuardSlot[kGuardSlots];
    struct sigaction action {};
    action.sa_sigaction = OnFault;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &action, &previous_segv);
    sigaction(SIGBUS, &action, &previous_bus);
  });
}

// ---- Regions and views --------------------------------------------------------------------------

struct Region {
  uint64_t id = 0;
  uint8_t* address = nullptr;
  size_t length = 0;
  RegionRelease release = RegionRelease::kMunmap;
  GuardSlot* slot = nullptr;
  int holders = 0;  // live views and temporary holds
  std::atomic<uint32_t> faults{0};
};

struct View {
  uint64_t id = 0;
  Region* region = nullptr;
  bool released = false;
};

// Process-wide, shared by every JavaScript environment, and never destroyed.
struct Registry {
  std::mutex mu;
  std::unordered_map<uint64_t, Region*> regions;
  std::unordered_map<uint64_t, View*> views;
  uint64_t next_id = 1;
};

Registry& TheRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

int64_t UnmapLocked(Registry& registry, Region* region) {
  if (region->slot != nullptr) {
    region->slot->start.store(0, std::memory_order_release);
    region->slot->faults.store(nullptr, std::memory_order_relaxed);
    region->slot = nullptr;
  }
  int64_t result;
  if (region->release == RegionRelease::kShmdt && region->faults.load() == 0) {
    result = SyscallResult(shmdt(region->address));
  } else {
    // Also for an attachment whose pages the guard replaced: shmdt would leave those behind (and miss
    // the attachment if the first page was one), and unmapping them afterwards could hit someone else's
    // new mapping at the freed address. One munmap of the whole range detaches the segment just as
    // shmdt does (the kernel updates nattch, dtime and lpid as its pages go) and takes the rest with it.
    result = SyscallResult(munmap(region->address, region->length));
  }
  registry.regions.erase(region->id);
  delete region;
  return result;
}

int64_t DropHoldLocked(Registry& registry, Region* region) {
  return --region->holders == 0 ? UnmapLocked(registry, region) : 0;
}

int64_t ReleaseViewLocked(Registry& registry, View* view) {
  if (view->released) return 0;
  view->released = true;
  return DropHoldLocked(registry, view->region);
}

// Called on the JavaScript thread when V8 lets go of a view's ArrayBuffer: after close() detached it,
// when it was garbage-collected, or when its environment was torn down.
void OnViewFinalized(napi_env, void*, void* hint) {
  auto* view = static_cast<View*>(hint);
  Registry& registry = TheRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  ReleaseViewLocked(registry, view);
  registry.views.erase(view->id);
  delete view;
}

// A new view of a region the caller already holds a reference on, which the view takes over.
Napi::Value CreateViewHolding(Napi::Env env, Region* region) {
  Registry& registry = TheRegistry();
  auto* view = new View();
  view->region = region;
  uint64_t view_id, region_id;
  uint8_t* address = region->address;
  size_t length = region->length;
  {
    std::lock_guard<std::mutex> lock(registry.mu);
    view_id = view->id = registry.next_id++;
    registry.views[view_id] = view;
    region_id = region->id;
  }
  napi_value buffer;
  napi_status status = napi_create_external_arraybuffer(env, address, length, OnViewFinalized, view, &buffer);
  if (status != napi_ok) {
    // Node runs the finalizer itself when it cannot make the buffer; otherwise release here.
    std::lock_guard<std::mutex> lock(registry.mu);
    auto it = registry.views.find(view_id);
    if (it != registry.views.end()) {
      ReleaseViewLocked(registry, it->second);
      delete it->second;
      registry.views.erase(it);
    }
    return Result(env, -ENOMEM);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("buffer", Napi::Value(env, buffer));
  result.Set("view", Napi::Number::New(env, static_cast<double>(view->id)));
  result.Set("region", Napi::Number::New(env, static_cast<double>(region_id)));
  return result;
}

// Takes a temporary reference on a live region, released by destruction (from any thread).
class RegionHold {
 public:
  static std::shared_ptr<RegionHold> Take(uint64_t id) {
    Registry& registry = TheRegistry();
    std::lock_guard<std::mutex> lock(registry.mu);
    auto it = registry.regions.find(id);
    if (it == registry.regions.end() || it->second->holders == 0) return nullptr;
    it->second->holders++;
    return std::shared_ptr<RegionHold>(new RegionHold(it->second));
  }
  ~RegionHold() {
    Registry& registry = TheRegistry();
    std::lock_guard<std::mutex> lock(registry.mu);
    DropHoldLocked(registry, region_);
  }
  Region* region() const { return region_; }

 private:
  explicit RegionHold(Region* region) : region_(region) {}
  Region* region_;
};

// mmap(length, prot, flags, fd, offset, guard) → { buffer, view, region } or -errno
Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Args args(info);
  double length = args.Double(0);
  int prot = args.Int32(1);
  int flags = args.Int32(2);
  int fd = args.Int32(3);
  int64_t offset = args.Int64(4);
  int guard = args.Int32(5);
  if (!args.ok()) return info.Env().Undefined();
  if (length <= 0) return Result(info.Env(), -EINVAL);
  void* address = mmap(nullptr, static_cast<size_t>(length), prot, flags, fd, static_cast<off_t>(offset));
  if (address == MAP_FAILED) return Result(info.Env(), -errno);
  return NewRegion(info.Env(), address, static_cast<size_t>(length), RegionRelease::kMunmap, guard);
}

// viewRegion(region) → { buffer, view, region } or -EBADF once the region is gone: another view of the
// same pages, e.g. for a worker thread.
Napi::Value ViewRegion(const Napi::CallbackInfo& info) {
  Args args(info);
  int64_t id = args.Int64(0);
  if (!args.ok()) return info.Env().Undefined();
  Registry& registry = TheRegistry();
  Region* region;
  {
    std::lock_guard<std::mutex> lock(registry.mu);
    auto it = registry.regions.find(static_cast<uint64_t>(id));
    if (it == registry.regions.end() || it->second->holders == 0) return Result(info.Env(), -EBADF);
    region = it->second;
    region->holders++;
  }
  return CreateViewHolding(info.Env(), region);
}

// closeView(view, buffer) → 0, or -errno from munmap/shmdt when this was the last view. Detaches the
// buffer first: from here on no TypedArray over it can reach the pages.
Napi::Value CloseView(const Napi::CallbackInfo& info) {
  Args args(info);
  int64_t id = args.Int64(0);
  if (!args.ok()) return info.Env().Undefined();
  Napi::Value buffer = info[1];
  Registry& registry = TheRegistry();
  void* expected;
  {
    std::lock_guard<std::mutex> lock(registry.mu);
    auto it = registry.views.find(static_cast<uint64_t>(id));
    if (it == registry.views.end() || it->second->released) return Result(info.Env(), -EBADF);
    expected = it->second->region->address;
  }
  void* data = nullptr;
  size_t length = 0;
  bool is_buffer = buffer.IsArrayBuffer() &&
                   napi_get_arraybuffer_info(info.Env(), buffer, &data, &length) == napi_ok && data == expected;
  if (!is_buffer || napi_detach_arraybuffer(info.Env(), buffer) != napi_ok) return Result(info.Env(), -EINVAL);
  std::lock_guard<std::mutex> lock(registry.mu);
  auto it = registry.views.find(static_cast<uint64_t>(id));
  if (it == registry.views.end()) return Result(info.Env(), 0);  // finalized meanwhile: already released
  return Result(info.Env(), ReleaseViewLocked(registry, it->second));
}

// faultedPages(region) → pages the fault guard replaced, or -EBADF once the region is gone.
Napi::Value FaultedPages(const Napi::CallbackInfo& info) {
  Args args(info);
  int64_t id = args.Int64(0);
  if (!args.ok()) return info.Env().Undefined();
  std::shared_ptr<RegionHold> hold = RegionHold::Take(static_cast<uint64_t>(id));
  if (!hold) return Result(info.Env(), -EBADF);
  return Result(info.Env(), hold->region()->faults.load());
}

BlockingCall MsyncCall(std::shared_ptr<RegionHold> hold, size_t offset, size_t length, int flags) {
  return [hold, offset, length, flags]() -> int64_t {
    return SyscallResult(msync(hold->region()->address + offset, length, flags));
  };
}

// Range checks for msync: the page-aligned span covering [offset, offset + length) of the region.
bool SyncSpan(Region* region, double offset, double length, size_t* start, size_t* span) {
  if (offset < 0 || length < 0 || offset + length > static_cast<double>(region->length)) return false;
  size_t page = PageSize();
  *start = static_cast<size_t>(offset) & ~(page - 1);
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
  if (!SyncSpan(hold->region(), offset, length, &start, &span)) return Result(info.Env(), -EINVAL);
  return Result(info.Env(), RunSync(MsyncCall(hold, start, span, flags), -1));
}

// msyncAsync(region, offset, length, flags, callback(result)) → wait id; the write-back is waited for on
// a waiter thread, which holds the region mapped until it is done.
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
  if (!SyncSpan(hold->region(), offset, length, &start, &span)) return Result(info.Env(), -EINVAL);
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

}  // namespace

Napi::Value NewRegion(Napi::Env env, void* address, size_t length, RegionRelease release, int guard) {
  auto* region = new Region();
  region->address = static_cast<uint8_t*>(address);
  region->length = length;
  region->release = release;
  region->holders = 1;  // taken over by the first view
  Registry& registry = TheRegistry();
  if (guard != kGuardNone) InstallFaultHandler();
  {
    std::lock_guard<std::mutex> lock(registry.mu);
    region->id = registry.next_id++;
    registry.regions[region->id] = region;
    if (guard != kGuardNone) {
      for (size_t i = 0; i < kGuardSlots && region->slot == nullptr; i++) {
        GuardSlot& slot = guard_slots[i];
        if (slot.start.load(std::memory_order_relaxed) != 0) continue;
        slot.end.store(reinterpret_cast<uintptr_t>(address) + length, std::memory_order_relaxed);
        slot.mode.store(guard, std::memory_order_relaxed);
        slot.faults.store(&region->faults, std::memory_order_relaxed);
        slot.start.store(reinterpret_cast<uintptr_t>(address), std::memory_order_release);
        region->slot = &slot;
      }
      if (region->slot == nullptr) {  // every slot taken: unguarded memory is not handed out
        UnmapLocked(registry, region);
        return Result(env, -ENOMEM);
      }
    }
  }
  return CreateViewHolding(env, region);
}

void InitMmap(Napi::Env env, Napi::Object exports) {
  UNIPC_EXPORT(exports, "mmap", Mmap);
  UNIPC_EXPORT(exports, "viewRegion", ViewRegion);
  UNIPC_EXPORT(exports, "closeView", CloseView);
  UNIPC_EXPORT(exports, "faultedPages", FaultedPages);
  UNIPC_EXPORT(exports, "msync", Msync);
  UNIPC_EXPORT(exports, "msyncAsync", MsyncAsync);
  UNIPC_EXPORT(exports, "memfdCreate", MemfdCreate);
  UNIPC_EXPORT(exports, "ftruncate", Ftruncate);

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
  c.Set("GUARD_READ_ONLY", Napi::Number::New(env, kGuardReadOnly));
  c.Set("GUARD_SHRINK", Napi::Number::New(env, kGuardShrink));
}

}  // namespace unipc
