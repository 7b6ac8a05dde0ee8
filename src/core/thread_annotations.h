// Clang's thread-safety annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html),
// as macros that expand to nothing on compilers without them (gcc). `make tsa` builds with
// clang and -Werror=thread-safety, so what they state is checked at compile time:
//
//   Mutex mu_;
//   int count_ GUARDED_BY(mu_) = 0;        // read or written only with mu_ held
//   void Bump() REQUIRES(mu_);             // callers hold mu_
//   void Add() EXCLUDES(mu_);              // callers do not hold mu_ (it takes it)
//
// The capability types themselves (Mutex, MutexLock, CondVar) are in core/mutex.h;
// docs/threads.md says which mutex guards what in each module.
//
// Thread safety: macros only; no code.
#pragma once

#if defined(__clang__) && defined(__has_attribute)
#if __has_attribute(capability) && __has_attribute(guarded_by)
#define MODELD_THREAD_ANNOTATION_(x) __attribute__((x))
#endif
#endif
#ifndef MODELD_THREAD_ANNOTATION_
#define MODELD_THREAD_ANNOTATION_(x)  // no-op: this compiler does not check them
#endif

// A class that is a capability (a mutex); |x| names the kind in diagnostics ("mutex").
#define CAPABILITY(x) MODELD_THREAD_ANNOTATION_(capability(x))

// An RAII class that holds a capability for its lifetime (MutexLock).
#define SCOPED_CAPABILITY MODELD_THREAD_ANNOTATION_(scoped_lockable)

// A data member (or global) read and written only with capability |x| held (reads: at least
// shared).
#define GUARDED_BY(x) MODELD_THREAD_ANNOTATION_(guarded_by(x))

// A pointer member whose pointee (not the pointer) is guarded by |x|.
#define PT_GUARDED_BY(x) MODELD_THREAD_ANNOTATION_(pt_guarded_by(x))

// Lock order: this capability is taken before / after the ones named.
#define ACQUIRED_BEFORE(...) MODELD_THREAD_ANNOTATION_(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) MODELD_THREAD_ANNOTATION_(acquired_after(__VA_ARGS__))

// The caller must hold the capabilities (exclusively / at least shared) on entry; they are
// still held on return.
#define REQUIRES(...) MODELD_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) MODELD_THREAD_ANNOTATION_(requires_shared_capability(__VA_ARGS__))

// The function takes the capabilities and returns holding them (no argument in a member of
// a capability class: this object).
#define ACQUIRE(...) MODELD_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) MODELD_THREAD_ANNOTATION_(acquire_shared_capability(__VA_ARGS__))

// The function releases capabilities the caller held.
#define RELEASE(...) MODELD_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) MODELD_THREAD_ANNOTATION_(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) MODELD_THREAD_ANNOTATION_(release_generic_capability(__VA_ARGS__))

// The function tries to take the capabilities; it holds them when it returns the value given
// first (TRY_ACQUIRE(true, mu_)).
#define TRY_ACQUIRE(...) MODELD_THREAD_ANNOTATION_(try_acquire_capability(__VA_ARGS__))
#define TRY_ACQUIRE_SHARED(...) \
  MODELD_THREAD_ANNOTATION_(try_acquire_shared_capability(__VA_ARGS__))

// The caller must not hold the capabilities (the function takes them itself).
#define EXCLUDES(...) MODELD_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))

// The function checks (or promises) that the calling thread holds the capability; the
// analysis assumes it is held afterwards.
#define ASSERT_CAPABILITY(x) MODELD_THREAD_ANNOTATION_(assert_capability(x))
#define ASSERT_SHARED_CAPABILITY(x) MODELD_THREAD_ANNOTATION_(assert_shared_capability(x))

// The function returns a reference to the capability |x|.
#define RETURN_CAPABILITY(x) MODELD_THREAD_ANNOTATION_(lock_returned(x))

// Turns the analysis off for one function. Last resort: say why beside each use.
#define NO_THREAD_SAFETY_ANALYSIS MODELD_THREAD_ANNOTATION_(no_thread_safety_analysis)
