// RecordWriter: writes job records to the registry on a thread of its own, so no thread
// that reports progress (the engine's loop thread among them) ever waits on SQLite, even
// while the registry is busy (a long gc, another process's transaction). Records are
// written in the order queued; a record replaces one of the same job still waiting (the
// latest state wins). Deletions queue like records.
//
// Thread safety: all methods are safe from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "store/store.h"

namespace modeld::service {

class RecordWriter {
 public:
  explicit RecordWriter(store::Store& store);
  // Writes what is queued, then stops.
  ~RecordWriter();
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;

  void Save(store::JobRecord record);
  void Delete(const std::string& id);
  // Returns once everything queued before it (and since) is written: the queue is empty.
  void Flush();

 private:
  struct Item {
    std::string id;
    std::optional<store::JobRecord> record;  // nullopt: delete
  };
  void Queue(Item item);
  void Loop();

  store::Store& store_;
  std::mutex mu_;
  std::condition_variable work_, idle_;
  std::deque<Item> queue_;  // GUARDED_BY(mu_)
  bool busy_ = false;       // GUARDED_BY(mu_): an item is being written
  bool stop_ = false;       // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace modeld::service
