// Lock ownership written where it is declared, checked by clang's -Wthread-safety (npm run check:threads;
// CI runs it). Under other compilers the annotations are empty. Same macros as LevelDB's and Abseil's.
#pragma once

#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define LIBFCGI_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define LIBFCGI_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) LIBFCGI_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY LIBFCGI_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) LIBFCGI_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) LIBFCGI_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) LIBFCGI_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) LIBFCGI_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) LIBFCGI_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) LIBFCGI_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) LIBFCGI_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) LIBFCGI_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) LIBFCGI_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define RETURN_CAPABILITY(x) LIBFCGI_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS LIBFCGI_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace libfcgi {

// std::mutex with a capability the analysis can follow (std::mutex carries none in libstdc++).
class CAPABILITY("mutex") Mutex {
 public:
  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  // For std::condition_variable::wait through MutexLock::Wait.
  std::mutex& native() { return mu_; }

 private:
  std::mutex mu_;
};

// Holds a Mutex for its scope; Unlock()/Lock() let a loop drop it around blocking work, and Wait() waits on a
// condition variable (which releases and re-takes the mutex inside: held before and after, as the analysis
// assumes).
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : lock_(mu->native()) {}
  ~MutexLock() RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() RELEASE() { lock_.unlock(); }
  void Lock() ACQUIRE() { lock_.lock(); }
  void Wait(std::condition_variable* cv) { cv->wait(lock_); }

 private:
  std::unique_lock<std::mutex> lock_;
};

// std::shared_mutex with a capability: many readers (ReaderLock) or one writer (WriterLock).
class CAPABILITY("mutex") SharedMutex {
 public:
  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  void LockShared() ACQUIRE_SHARED() { mu_.lock_shared(); }
  void UnlockShared() RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

class SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex* mu) ACQUIRE_SHARED(mu) : mu_(mu) { mu_->LockShared(); }
  ~ReaderLock() RELEASE() { mu_->UnlockShared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex* mu_;
};

class SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~WriterLock() RELEASE() { mu_->Unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex* mu_;
};

}  // namespace libfcgi
