#include "loader/loader.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <limits>
#include <utility>

#include "core/error_reasons.h"
#include "core/fs.h"
#include "core/log.h"

namespace modeld::loader {
namespace {

uint64_t HalfOfPhysicalRam() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return 1ull << 30;  // cannot tell: a modest 1 GiB
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 2;
}

std::string Bytes(uint64_t n) { return HumanBytes(n) + " (" + std::to_string(n) + " bytes)"; }

}  // namespace

// A load in progress. Its loading thread owns the mapping until it publishes it in the entry;
// the other Loads of the same model wait on |done|, which the loading thread sets once, after
// it has published the mapping or removed the entry (and unmapped everything) on failure.
struct Loader::Pending {
  std::atomic<bool> cancel{false};  // set by RemoveLocked: stop faulting, unmap, Cancelled
  std::promise<Status> promise;
  std::shared_future<Status> done = promise.get_future().share();
};

Loader::Loader(Options options)
    : options_(std::move(options)),
      max_bytes_(options_.max_loaded_bytes ? options_.max_loaded_bytes : HalfOfPhysicalRam()),
      now_(options_.now ? options_.now : [] { return Clock::now(); }) {
  thread_ = std::thread([this] { ThreadMain(); });
}

Loader::~Loader() {
  UnloadAll();
  {
    MutexLock lock(&mu_);
    stop_ = true;
    work_cv_.Signal();
  }
  thread_.join();
}

Result<LoadInfo> Loader::Load(const LoadSpec& spec) {
  // load_time is real time: the injected clock is for keep_alive and the LRU order.
  const Clock::time_point start = Clock::now();
  if (spec.key.empty()) return Status::InvalidArgument("a model to load needs a key");
  if (spec.files.empty()) return Status::InvalidArgument(Quoted(spec.key) + " has no files");
  uint64_t bytes = 0;
  for (const ModelFile& f : spec.files) {
    if (f.path.empty() || f.path.front() != '/') {
      return Status::InvalidArgument("file '" + f.path + "' of " + Quoted(spec.key) +
                                     " is not an absolute path");
    }
    bytes += f.size;
  }
  if (spec.keep_alive && *spec.keep_alive == Duration::zero()) {
    // Ollama's keep_alive 0: unload now, load nothing.
    (void)Unload(spec.key);
    LoadInfo info;
    info.load_time = Clock::now() - start;
    return info;
  }
  if (bytes > max_bytes_) {
    return Status::FailedPrecondition(Quoted(spec.key) + " needs " + Bytes(bytes) +
                                      " of memory, more than the whole budget for loaded "
                                      "models, " +
                                      Bytes(max_bytes_) + " (--max-loaded-bytes)")
        .WithInfo({reason::kModelTooLarge,
                   {{"model", spec.key},
                    {"required", std::to_string(bytes)},
                    {"available", std::to_string(max_bytes_)}}});
  }
  // Opened (and their sizes checked) before anything is evicted or waited for; the mapping
  // uses these descriptors, so the files checked are the files mapped.
  std::vector<OpenFile> files;
  for (const ModelFile& f : spec.files) {
    Result<OpenFile> file = OpenModelFile(spec.key, f.path, f.size);
    if (!file) return file.error();
    files.push_back(std::move(file.value()));
  }
  return StartLoad(spec, std::move(files), start);
}

Result<LoadInfo> Loader::StartLoad(const LoadSpec& spec, std::vector<OpenFile> files,
                                   Clock::time_point start) {
  uint64_t bytes = 0;
  for (const OpenFile& f : files) bytes += f.size;
  MutexLock lock(&mu_);
  std::optional<uint64_t> joined;  // the instance whose load this call waited for
  for (;;) {
    auto it = models_.find(spec.key);
    if (joined && (it == models_.end() || it->second.id != *joined)) {
      return Status::Cancelled(Quoted(spec.key) + " was unloaded before this load could use it");
    }
    if (it == models_.end()) break;
    if (it->second.mapped) {
      Use use = UseLoaded(&it->second, spec, /*joined=*/true);
      lock.Unlock();
      return FinishUse(std::move(use), spec, start);
    }
    std::shared_ptr<Pending> pending = it->second.pending;
    joined = it->second.id;
    lock.Unlock();
    if (options_.on_join_for_test) options_.on_join_for_test(spec.key);
    pending->done.wait();
    Status status = pending->done.get();
    lock.Lock();
    if (status.code() == Status::Code::kCancelled) return status;
    // The other load failed on its own terms (its mlock, say): this one tries for itself.
    if (!status.ok()) joined.reset();
  }

  // Room: evict the least recently used loaded models, but only when that makes enough.
  uint64_t evictable = 0;
  for (const auto& [key, e] : models_) {
    if (e.mapped) evictable += e.bytes;
  }
  if (used_bytes_ - evictable + bytes > max_bytes_) {
    uint64_t available = max_bytes_ - (used_bytes_ - evictable);
    return Status::Unavailable(Quoted(spec.key) + " needs " + Bytes(bytes) +
                               " of memory; loads in progress hold all but " + Bytes(available) +
                               " of the budget")
        .WithInfo({reason::kLoadBudgetBusy,
                   {{"model", spec.key},
                    {"required", std::to_string(bytes)},
                    {"available", std::to_string(available)}}});
  }
  while (used_bytes_ + bytes > max_bytes_) {
    auto lru = models_.end();
    for (auto it = models_.begin(); it != models_.end(); ++it) {
      if (it->second.mapped && (lru == models_.end() || it->second.use_seq < lru->second.use_seq)) {
        lru = it;
      }
    }
    RemoveLocked(lru);  // evictable >= what is missing, so there is one
  }
  auto pending = std::make_shared<Pending>();
  const uint64_t id = next_id_++;
  Entry entry;
  entry.id = id;
  entry.bytes = bytes;
  entry.pending = pending;
  models_.emplace(spec.key, std::move(entry));
  used_bytes_ += bytes;
  lock.Unlock();
  work_cv_.Signal();  // to unmap what was evicted

  MapOptions map_options;
  map_options.populate = options_.populate;
  map_options.chunk_bytes = options_.chunk_bytes;
  map_options.cancel = &pending->cancel;
  if (options_.on_chunk_for_test) {
    map_options.on_chunk = [&](uint64_t done) { options_.on_chunk_for_test(spec.key, done); };
  }
  Result<std::unique_ptr<MappedModel>> mapped =
      MappedModel::Map(spec.key, std::move(files), spec.mlock, map_options);

  lock.Lock();
  auto it = models_.find(spec.key);
  const bool ours = it != models_.end() && it->second.id == id;
  if (!ours || !mapped) {
    // Only RemoveLocked takes an entry away, and it cancels the load as it does.
    Status status =
        mapped ? Status::Cancelled("loading " + Quoted(spec.key) + " was cancelled (unloaded)")
               : mapped.error();
    if (ours) {
      used_bytes_ -= bytes;
      models_.erase(it);
    }
    lock.Unlock();
    if (mapped) mapped.value().reset();  // unmapped before anyone hears of the failure
    pending->promise.set_value(status);
    return status;
  }
  Entry& e = it->second;
  e.mapped = std::move(mapped.value());
  e.pending.reset();
  e.mlocked = spec.mlock;
  e.loaded_at = now_();
  Use use = UseLoaded(&e, spec, false);
  work_cv_.Signal();  // a new expiry
  lock.Unlock();
  pending->promise.set_value(Status::OK());
  return FinishUse(std::move(use), spec, start);
}

Loader::Use Loader::UseLoaded(Entry* e, const LoadSpec& spec, bool joined) {
  e->keep_alive = ResolveKeepAlive(spec.keep_alive);
  MarkUsed(e);
  work_cv_.Signal();  // the expiry may be earlier than the one the thread waits for
  Use use;
  use.mapped = e->mapped;
  use.info.loaded = true;
  use.info.joined = joined;
  use.info.instance_id = e->id;
  use.info.bytes = e->bytes;
  use.info.mlocked = e->mlocked;
  return use;
}

Result<LoadInfo> Loader::FinishUse(Use use, const LoadSpec& spec, Clock::time_point start) {
  if (spec.mlock && !use.info.mlocked) {
    // Loaded without mlock before: lock it now (the model stays loaded if that fails).
    Status s = use.mapped->Lock(spec.key);
    if (!s.ok()) return s;
    MutexLock lock(&mu_);
    auto it = models_.find(spec.key);
    if (it != models_.end() && it->second.id == use.info.instance_id) it->second.mlocked = true;
    use.info.mlocked = true;
  }
  use.info.resident_bytes = use.mapped->ResidentBytes();
  use.info.load_time = Clock::now() - start;
  return use.info;
}

std::optional<Duration> Loader::ResolveKeepAlive(std::optional<Duration> keep_alive) const {
  Duration d = keep_alive ? *keep_alive : options_.default_keep_alive;
  if (d < Duration::zero()) return std::nullopt;
  return d;
}

void Loader::MarkUsed(Entry* e) {
  e->last_used = now_();
  e->use_seq = next_use_++;
}

std::optional<Clock::time_point> Loader::ExpiresAt(const Entry& e) const {
  if (!e.keep_alive) return std::nullopt;
  // A keep_alive beyond the clock's range (hundreds of years) is never.
  if (*e.keep_alive > Clock::time_point::max() - e.last_used) return std::nullopt;
  return e.last_used + *e.keep_alive;
}

void Loader::RemoveLocked(Models::iterator it) {
  Entry& e = it->second;
  used_bytes_ -= e.bytes;
  if (e.pending) e.pending->cancel.store(true, std::memory_order_relaxed);
  if (e.mapped) to_unmap_.push_back(std::move(e.mapped));
  models_.erase(it);
}

bool Loader::Unload(std::string_view key) {
  {
    MutexLock lock(&mu_);
    auto it = models_.find(key);
    if (it == models_.end()) return false;
    RemoveLocked(it);
  }
  // Woken after the lock is released, so that it does not wake only to wait for it.
  work_cv_.Signal();
  return true;
}

size_t Loader::UnloadAll() {
  size_t n = 0;
  {
    MutexLock lock(&mu_);
    n = models_.size();
    while (!models_.empty()) RemoveLocked(models_.begin());
  }
  work_cv_.Signal();
  return n;
}

bool Loader::Touch(std::string_view key) {
  MutexLock lock(&mu_);
  auto it = models_.find(key);
  if (it == models_.end() || !it->second.mapped) return false;
  MarkUsed(&it->second);
  return true;
}

bool Loader::IsLoaded(std::string_view key) const {
  MutexLock lock(&mu_);
  auto it = models_.find(key);
  return it != models_.end() && it->second.mapped != nullptr;
}

std::vector<LoadedModel> Loader::List() const {
  std::vector<LoadedModel> out;
  std::vector<std::shared_ptr<const MappedModel>> mapped;
  {
    MutexLock lock(&mu_);
    // Steady times shown as wall-clock times, both clocks read once so that the differences
    // between the times listed are exact.
    const Clock::time_point now = now_();
    const std::chrono::system_clock::time_point wall_now = std::chrono::system_clock::now();
    auto Wall = [&](Clock::time_point t) {
      return wall_now + std::chrono::duration_cast<std::chrono::system_clock::duration>(t - now);
    };
    for (const auto& [key, e] : models_) {
      if (!e.mapped) continue;
      LoadedModel m;
      m.key = key;
      m.instance_id = e.id;
      m.bytes = e.bytes;
      m.loaded_at = Wall(e.loaded_at);
      m.last_used = Wall(e.last_used);
      if (std::optional<Clock::time_point> exp = ExpiresAt(e)) m.expires_at = Wall(*exp);
      m.mlocked = e.mlocked;
      out.push_back(std::move(m));
      mapped.push_back(e.mapped);
    }
  }
  // mincore without the lock; the shared pointers keep the mappings alive meanwhile.
  for (size_t i = 0; i < out.size(); ++i) out[i].resident_bytes = mapped[i]->ResidentBytes();
  return out;
}

void Loader::WaitForTimerForTest() {
  MutexLock lock(&mu_);
  const uint64_t ticket = ++wakes_;
  work_cv_.Signal();
  pass_cv_.Wait(&mu_, [&]() REQUIRES(mu_) { return passes_ >= ticket; });
}

void Loader::ThreadMain() {
  // SCHED_BATCH: woken by an Unload, this thread must not preempt the thread that woke it
  // (on a busy machine a wake-up preemption kept Unload from returning for 5-10 ms while
  // this thread ran munmap on its CPU). Failing to set it changes only that.
  sched_param param{};
  (void)sched_setscheduler(0, SCHED_BATCH, &param);
  MutexLock lock(&mu_);
  for (;;) {
    if (!to_unmap_.empty()) {
      // munmap outside the lock: a GiB mapping takes milliseconds to tear down.
      std::vector<std::shared_ptr<const MappedModel>> batch;
      batch.swap(to_unmap_);
      lock.Unlock();
      batch.clear();
      lock.Lock();
      continue;
    }
    if (stop_) return;
    const uint64_t wake = wakes_;
    // Models whose files were removed or replaced: stat() each path without the lock, then
    // unload those still holding the mapping that was checked.
    std::vector<std::pair<std::string, std::shared_ptr<const MappedModel>>> loaded;
    for (const auto& [key, e] : models_) {
      if (e.mapped) loaded.emplace_back(key, e.mapped);
    }
    if (!loaded.empty()) {
      lock.Unlock();
      struct Replaced {
        std::string key, file;
        std::shared_ptr<const MappedModel> mapped;  // the mapping checked
      };
      std::vector<Replaced> replaced;
      for (auto& [key, mapped] : loaded) {
        if (std::string file = mapped->ReplacedFile(); !file.empty()) {
          replaced.push_back({key, std::move(file), std::move(mapped)});
        }
      }
      loaded.clear();
      lock.Lock();
      bool removed = false;
      for (const Replaced& r : replaced) {
        auto it = models_.find(r.key);
        if (it == models_.end() || it->second.mapped != r.mapped) continue;  // gone already
        log::Info("unloaded {}: its file {} was removed or replaced", r.key, r.file);
        RemoveLocked(it);
        removed = true;
      }
      // The last references to mappings unloaded meanwhile go here (on this thread, which
      // unmaps anyway), without the lock.
      lock.Unlock();
      replaced.clear();
      lock.Lock();
      if (removed) continue;  // unmap it before the pass counts as done
    }
    const Clock::time_point now = now_();
    std::optional<Clock::time_point> next;
    for (auto it = models_.begin(); it != models_.end();) {
      auto cur = it++;
      if (!cur->second.mapped) continue;
      std::optional<Clock::time_point> exp = ExpiresAt(cur->second);
      if (!exp) continue;
      if (*exp <= now) {
        RemoveLocked(cur);
      } else if (!next || *exp < *next) {
        next = exp;
      }
    }
    // Unmap what expired (or was handed over while the watch ran unlocked) before the pass
    // counts as done; a stop asked meanwhile is seen before waiting.
    if (!to_unmap_.empty() || stop_) continue;
    passes_ = wake;
    pass_cv_.SignalAll();
    if (wakes_ != wake) continue;
    // On the real clock; capped so that an injected clock far from it cannot overflow, and
    // so that the files of loaded models are checked every watch_interval.
    Duration wait = next ? std::min<Duration>(*next - now, std::chrono::hours(1))
                         : Duration(std::chrono::hours(1));
    bool mapped = false;
    for (const auto& [key, e] : models_) mapped = mapped || e.mapped != nullptr;
    if (mapped && options_.watch_interval > Duration::zero()) {
      wait = std::min(wait, options_.watch_interval);
    }
    if (next || mapped) {
      work_cv_.WaitUntil(&mu_, Clock::now() + wait);
    } else {
      work_cv_.Wait(&mu_);
    }
  }
}

}  // namespace modeld::loader
