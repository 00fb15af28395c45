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

void InitMmap(Napi::Env env, Napi::Object exports);

}  // namespace unipc
