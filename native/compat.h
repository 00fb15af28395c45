// What keeps the addon, built on a current Linux, loadable where the official Node binaries run: glibc
// 2.28 and the libstdc++ of GCC 5.1 (GLIBCXX_3.4.21, CXXABI_1.3.9), the oldest each of those binaries needs
// itself. binding.gyp includes this file ahead of every source (-include), and scripts/check-floor.mjs
// reads the versioned symbols of a built addon and fails if anything newer crept in (docs/install.md).
//
// A symbol gets a new version when glibc changes or moves it: the functions of libpthread, librt and
// libdl moved into libc in 2.34 and took version GLIBC_2.34 there, beside their old versions, which glibc
// keeps for binaries linked before. `.symver` makes this addon's references ask for the old version, the
// one that 2.28 has (in libpthread, librt or libdl: the prebuilt addon lists those as needed too). The
// old versions differ per architecture (the first glibc of each), so only x86-64 and arm64 are pinned: a
// source build anywhere else is made on the machine it runs on. Functions newer than 2.28 are not called
// by name: native/sem.cc looks up sem_clockwait (2.30) at run time.
#pragma once

#if defined(__cplusplus)
#include <cstddef>  // defines __GLIBCXX__ (libstdc++) and, through it, __GLIBC__
#endif
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__GLIBC__) && (defined(__x86_64__) || defined(__aarch64__))
#define UNIPC_COMPAT_PINNED 1

#if defined(__x86_64__)
#define UNIPC_GLIBC_FIRST "GLIBC_2.2.5"
#define UNIPC_GLIBC_MQ "GLIBC_2.3.4"  // librt's POSIX message queues came later on x86-64
#else
#define UNIPC_GLIBC_FIRST "GLIBC_2.17"
#define UNIPC_GLIBC_MQ "GLIBC_2.17"
#endif

#define UNIPC_PIN(symbol, version) __asm__(".symver " #symbol ", " #symbol "@" version)

// libpthread before 2.34 (pthread_sigmask: in libc from 2.32)
UNIPC_PIN(pthread_create, UNIPC_GLIBC_FIRST);
UNIPC_PIN(pthread_detach, UNIPC_GLIBC_FIRST);
UNIPC_PIN(pthread_join, UNIPC_GLIBC_FIRST);
UNIPC_PIN(pthread_kill, UNIPC_GLIBC_FIRST);
UNIPC_PIN(pthread_sigmask, UNIPC_GLIBC_FIRST);
UNIPC_PIN(pthread_attr_setstacksize, UNIPC_GLIBC_FIRST);
UNIPC_PIN(pthread_once, UNIPC_GLIBC_FIRST);
UNIPC_PIN(pthread_key_create, UNIPC_GLIBC_FIRST);
UNIPC_PIN(__pthread_key_create, UNIPC_GLIBC_FIRST);
UNIPC_PIN(pthread_key_delete, UNIPC_GLIBC_FIRST);
UNIPC_PIN(pthread_getspecific, UNIPC_GLIBC_FIRST);
UNIPC_PIN(pthread_setspecific, UNIPC_GLIBC_FIRST);
UNIPC_PIN(sem_open, UNIPC_GLIBC_FIRST);
UNIPC_PIN(sem_close, UNIPC_GLIBC_FIRST);
UNIPC_PIN(sem_unlink, UNIPC_GLIBC_FIRST);
UNIPC_PIN(sem_post, UNIPC_GLIBC_FIRST);
UNIPC_PIN(sem_wait, UNIPC_GLIBC_FIRST);
UNIPC_PIN(sem_trywait, UNIPC_GLIBC_FIRST);
UNIPC_PIN(sem_timedwait, UNIPC_GLIBC_FIRST);
UNIPC_PIN(sem_getvalue, UNIPC_GLIBC_FIRST);
// librt before 2.34
UNIPC_PIN(shm_open, UNIPC_GLIBC_FIRST);
UNIPC_PIN(shm_unlink, UNIPC_GLIBC_FIRST);
UNIPC_PIN(mq_open, UNIPC_GLIBC_MQ);
UNIPC_PIN(mq_unlink, UNIPC_GLIBC_MQ);
UNIPC_PIN(mq_send, UNIPC_GLIBC_MQ);
UNIPC_PIN(mq_receive, UNIPC_GLIBC_MQ);
UNIPC_PIN(mq_getattr, UNIPC_GLIBC_MQ);
// libdl before 2.34
UNIPC_PIN(dlsym, UNIPC_GLIBC_FIRST);

// libstdc++: GCC 12 gave condition_variable::wait a new version (GLIBCXX_3.4.30) for the same function.
UNIPC_PIN(_ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE, "GLIBCXX_3.4.11");
// GCC 11's allocators throw std::bad_array_new_length (GLIBCXX_3.4.29) for a count whose size overflows,
// where older ones threw std::bad_alloc, its base class: that older call.
__asm__(".symver _ZSt28__throw_bad_array_new_lengthv, _ZSt17__throw_bad_allocv@GLIBCXX_3.4");

#undef UNIPC_PIN

#endif

#if defined(__cplusplus)
namespace unipc {
// fstat(): it became a function of its own in glibc 2.33 (fstat64@GLIBC_2.33; before, an inline call of
// __fxstat64). On x86-64 and arm64 the system call fills glibc's struct stat as it is.
inline int Fstat(int fd, struct stat* stats) {
#if defined(UNIPC_COMPAT_PINNED)
  return static_cast<int>(syscall(SYS_fstat, fd, stats));
#else
  return fstat(fd, stats);
#endif
}
}  // namespace unipc
#endif

#if defined(__GLIBCXX__) && defined(UNIPC_COMPAT_PINNED)
// libstdc++'s timed waits of a steady clock call pthread_cond_clockwait, pthread_mutex_clocklock and
// pthread_rwlock_clock*lock (glibc 2.30) when its build found them; without, they wait against the system
// clock and check the steady one on waking, as before GCC 10.
#undef _GLIBCXX_USE_PTHREAD_COND_CLOCKWAIT
#undef _GLIBCXX_USE_PTHREAD_MUTEX_CLOCKLOCK
#undef _GLIBCXX_USE_PTHREAD_RWLOCK_CLOCKLOCK
// __libc_single_threaded (glibc 2.32) lets libstdc++ skip atomic reference counts in a process with one
// thread; Node never has one thread, so it reads this constant false instead (defined in common.cc).
#define __libc_single_threaded unipc_libc_single_threaded
#endif
