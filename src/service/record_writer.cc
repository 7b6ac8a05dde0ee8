#include "service/record_writer.h"

#include "core/log.h"

namespace modeld::service {

RecordWriter::RecordWriter(store::Store& store) : store_(store), thread_([this] { Loop(); }) {}

RecordWriter::~RecordWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_.notify_all();
  thread_.join();
}

void RecordWriter::Save(store::JobRecord record) {
  std::string id = record.id;
  Queue({std::move(id), std::move(record)});
}

void RecordWriter::Delete(const std::string& id) { Queue({id, std::nullopt}); }

void RecordWriter::Queue(Item item) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& waiting : queue_) {
      if (waiting.id == item.id && waiting.record && item.record) {
        waiting = std::move(item);  // a newer state of the same job
        return;
      }
    }
    queue_.push_back(std::move(item));
  }
  work_.notify_one();
}

void RecordWriter::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [&] { return queue_.empty() && !busy_; });
}

void RecordWriter::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything is written
    Item item = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    Status s = item.record ? store_.SaveJob(std::move(*item.record)) : store_.DeleteJob(item.id);
    if (!s.ok() && !(s.code() == Status::Code::kNotFound && !item.record)) {
      log::Warn("job={} cannot record its state: {}", item.id, s.ToString());
    }
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
}

}  // namespace modeld::service
