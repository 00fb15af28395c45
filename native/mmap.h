// Mapped memory shared with JavaScript: regions, their views, and the fault guard (see docs/design.md).
//
// A region is a range of mapped pages (mmap or shmat). JavaScript sees it through views: external
// ArrayBuffers. Closing a view detaches its ArrayBuffer (every TypedArray over it reads as length 0).
// When the last view of a region is closed, the region is retired: an inert anonymous mapping replaces
// its pages, which releases the file or segment at once while the addresses stay valid memory for
// anything (a thread-pool job, a moved buffer) still holding a pointer. The addresses are unmapped only
// when every ArrayBuffer object and backing store that pointed there is gone.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace unipc {

// What the fault guard does for a region.
enum RegionGuard : int {
  kGuardNone = 0,
  // A private read-only file mapping: a write makes the 1 MiB chunk around it writable (the kernel
  // copies each page as it is written).
  kGuardWriteProtect = 1,
  // A read-only System V attachment: a write replaces the 1 MiB chunk around it with a private copy.
  kGuardCopyOnWrite = 2,
  // A file mapping: an access past the end of a file that shrank gets zero pages instead of SIGBUS.
  kGuardShrink = 4,
};

struct RegionSpec {
  void* address = nullptr;
  size_t length = 0;
  int guard = kGuardNone;
  int fd = -1;  // the mapped file, for the shrink guard (duplicated; -1 for none)
  int64_t file_offset = 0;
  bool shared = true;
  bool writable = true;
};

// Registers freshly mapped memory and returns { buffer, view, region, shared, writable } for
// JavaScript, or a negative errno number (the memory is released again in that case).
Napi::Value NewRegion(Napi::Env env, const RegionSpec& spec);

// A temporary reference on a live region: while it exists the region is not retired, so its pages stay
// the mapped file or segment even if every view is closed meanwhile. Waiter threads that use mapped
// memory (msync, futex waits) hold one for the length of the call.
class RegionHold {
 public:
  // Null when the region is unknown or already retired.
  static std::shared_ptr<RegionHold> Take(uint64_t id);
  ~RegionHold();
  RegionHold(const RegionHold&) = delete;
  RegionHold& operator=(const RegionHold&) = delete;

  uint8_t* address() const { return address_; }
  size_t length() const { return length_; }

 private:
  RegionHold(void* region, uint8_t* address, size_t length) : region_(region), address_(address), length_(length) {}
  void* region_;
  uint8_t* address_;
  size_t length_;
};

void InitMmap(Napi::Env env, Napi::Object exports);

}  // namespace unipc
