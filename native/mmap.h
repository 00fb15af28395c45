// Mapped memory shared with JavaScript: regions, their views, and the fault guard (see docs/design.md).
//
// A region is a range of mapped pages (mmap or shmat). JavaScript sees it through views: external
// ArrayBuffers, each holding a reference on the region. Closing a view detaches its ArrayBuffer (every
// TypedArray over it reads as length 0) and drops the reference; the pages are unmapped only when the
// last reference goes, whichever thread held it. No ArrayBuffer can therefore reach unmapped memory.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace unipc {

enum class RegionRelease { kMunmap, kShmdt };

// Fault-guard modes, combinable.
enum RegionGuard : int {
  kGuardNone = 0,
  // The pages are read-only: a write gets a private copy of the page instead of SIGSEGV.
  kGuardReadOnly = 1,
  // The backing file can shrink under us: an access past its end gets a zero page instead of SIGBUS.
  kGuardShrink = 2,
};

// Registers freshly mapped memory and returns { buffer, view, region } for JavaScript, or a negative
// errno number (the memory is released again in that case).
Napi::Value NewRegion(Napi::Env env, void* address, size_t length, RegionRelease release, int guard);

void InitMmap(Napi::Env env, Napi::Object exports);

}  // namespace unipc
