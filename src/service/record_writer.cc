#include "service/record_writer.h"

#include "core/log.h"

namespace modeld::service {

RecordWriter::RecordWriter(store::Store& store) : store_(store), thread_([this] { Loop(); }) {}

RecordWriter::~RecordWriter() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  work_.SignalAll();
  thread_.join();
}

void RecordWriter::Save(store::JobRecord record) {
  std::string id = record.id;
  Queue({std::move(id), std::move(record)});
}

void RecordWriter::Delete(const std::string& id) { Queue({id, std::nullopt}); }

void RecordWriter::Queue(Item item) {
  {
    MutexLock lock(&mu_);
    for (auto& waiting : queue_) {
      if (waiting.id == item.id && waiting.record && item.record) {
        waiting = std::move(item);  // a newer state of the same job
        return;
      }
    }
    queue_.push_back(std::move(item));
  }
  work_.Signal();
}

void RecordWriter::Flush() {
  MutexLock lock(&mu_);
  idle_.Wait(&mu_, [&]() REQUIRES(mu_) { return queue_.empty() && !busy_; });
}

void RecordWriter::Loop() {
  MutexLock lock(&mu_);
  for (;;) {
    work_.Wait(&mu_, [&]() REQUIRES(mu_) { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything is written
    Item item = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.Unlock();
    Status s = item.record ? store_.SaveJob(std::move(*item.record)) : store_.DeleteJob(item.id);
    if (!s.ok() && !(s.code() == Status::Code::kNotFound && !item.record)) {
      log::Warn("job={} cannot record its state: {}", item.id, s.ToString());
    }
    lock.Lock();
    busy_ = false;
    if (queue_.empty()) idle_.SignalAll();
  }
}

}  // namespace modeld::service
