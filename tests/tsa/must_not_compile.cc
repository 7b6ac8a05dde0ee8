// Locking mistakes clang's thread-safety analysis must reject: scripts/tsa-selftest.sh
// (run by `make tsa`) compiles this file with -Wthread-safety and checks that exactly the
// lines marked "// error" are diagnosed. If the annotations in core/thread_annotations.h
// ever stopped reaching clang, `make tsa` would pass vacuously; this catches that.
// Not part of any build target.
#include <memory>

#include "core/mutex.h"

namespace modeld {

class Account {
 public:
  int Read() { return balance_; }           // error: reading without mu_
  void Write(int v) { balance_ = v; }       // error: writing without mu_
  void CallsHelperUnlocked() { Helper(); }  // error: Helper REQUIRES mu_
  void CallsPublicLocked() {
    MutexLock lock(&mu_);
    Deposit(1);  // error: Deposit EXCLUDES mu_
  }
  void UsesAfterUnlock() {
    MutexLock lock(&mu_);
    lock.Unlock();
    balance_ = 0;  // error: released above
  }
  void PredicateWithoutRequires() {
    MutexLock lock(&mu_);
    cv_.Wait(&mu_, [&] { return balance_ > 0; });  // error: the lambda does not say REQUIRES(mu_)
  }
  void WaitsUnlocked() {
    cv_.Wait(&mu_);  // error: Wait REQUIRES mu_
  }
  void ForgetsToUnlock() { mu_.Lock(); }  // error: still held at the end
  void LocksTwice() {
    MutexLock lock(&mu_);
    mu_.Lock();  // error: already held
    mu_.Unlock();
  }
  int ReadsThroughGuardedPointer() { return *ledger_; }  // error: pointee guarded by mu_
  void Deposit(int v) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    balance_ += v;
  }
  // What is right: no diagnostics below.
  int Fine() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    cv_.Wait(&mu_, [&]() REQUIRES(mu_) { return balance_ >= 0; });
    Helper();
    lock.Unlock();
    lock.Lock();
    return balance_ + *ledger_;
  }

 private:
  void Helper() REQUIRES(mu_) { ++balance_; }

  Mutex mu_;
  CondVar cv_;
  int balance_ GUARDED_BY(mu_) = 0;
  std::unique_ptr<int> ledger_ PT_GUARDED_BY(mu_) = std::make_unique<int>(0);
};

}  // namespace modeld
