// RecordWriter: writes job records to the registry on a thread of its own, so no thread
// that reports progress (the engine's loop thread among them) ever waits on SQLite, even
// while the registry is busy (a long gc, another process's transaction). Records are
// written in the order queued; a record replaces one of the same job still waiting (the
// latest state wins). Deletions queue like records.
//
// Thread safety: all methods are safe from any thread.
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <thread>

#include "core/mutex.h"
#include "store/store.h"

namespace modeld::service {

class RecordWriter {
 public:
  explicit RecordWriter(store::Store& store);
  // Writes what is queued, then stops.
  ~RecordWriter();
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;

  void Save(store::JobRecord record) EXCLUDES(mu_);
  void Delete(const std::string& id) EXCLUDES(mu_);
  // Returns once everything queued before it (and since) is written: the queue is empty.
  void Flush() EXCLUDES(mu_);

 private:
  struct Item {
    std::string id;
    std::optional<store::JobRecord> record;  // nullopt: delete
  };
  void Queue(Item item) EXCLUDES(mu_);
  void Loop() EXCLUDES(mu_);

  store::Store& store_;
  Mutex mu_;
  CondVar work_;  // queued, or stopping
  CondVar idle_;  // the queue emptied
  std::deque<Item> queue_ GUARDED_BY(mu_);
  bool busy_ GUARDED_BY(mu_) = false;  // an item is being written
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace modeld::service
