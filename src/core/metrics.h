// A small Prometheus registry (Debian has no prometheus-cpp): counter, gauge and histogram
// families with label names, a child per set of label values, collectors that report
// gauges when scraped (the store's size, jobs by state), and the exposition in the text
// format 0.0.4 that GET /metrics answers (docs/metrics.md lists every metric).
//
//   metrics::CounterFamily& requests = metrics::DefaultRegistry().AddCounter(
//       "modeld_http_requests_total", "HTTP requests answered.", {"route", "method", "status"});
//   requests.Get({"/models", "GET", "200"}).Inc();
//
// Names carry the "modeld_" prefix and base units ("_bytes", "_seconds"); counters end in
// "_total". Label values are the program's own words (a route's pattern, a Status code's
// name), never text from a request or an upstream: every value makes a series that lives
// as long as the process. As a bound against a mistake, a family holds at most
// kMaxChildren sets of values; past that, Get returns one shared child that is never
// exposed.
//
// Ownership: a Registry owns its families, which own their children: the references
// AddCounter and Get return stay valid as long as the registry (DefaultRegistry() lives
// until the process exits). A collector stays registered until its Registration is
// destroyed, which waits for a scrape running it to finish.
//
// Thread safety: everything is safe from any thread. Counter, Gauge and Histogram updates
// are lock-free atomics. Get takes the family's lock (shared when the child exists): a hot
// path looks its child up once and keeps the reference. Expose runs the collectors one
// scrape at a time, under the registry's collector lock: a collector must not add or remove
// collectors, and whatever it locks must not be held by code that destroys a Registration.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/mutex.h"

namespace modeld::metrics {

// Counts up: bytes, requests, retries.
class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Goes up and down: connections in use.
class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void Inc() { Add(1); }
  void Dec() { Add(-1); }
  int64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Observations in buckets (latencies). |bounds| are the buckets' upper bounds, ascending,
// without +Inf; they belong to the family and outlive the histogram.
class Histogram {
 public:
  explicit Histogram(const std::vector<double>* bounds);
  void Observe(double v);

  // Consistent with itself: |count| is the last (+Inf) cumulative bucket.
  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf
    uint64_t count = 0;
    double sum = 0;
  };
  Snapshot Read() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double>& bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // not cumulative; bounds_.size() + 1
  std::atomic<double> sum_{0};
};

enum class Type { kCounter, kGauge, kHistogram };

// The latency buckets of HTTP requests, in seconds: 1 ms to 60 s.
std::vector<double> LatencyBuckets();

namespace detail {

// Orders label value sets; transparent, so a lookup needs no std::string.
struct LabelsLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(),
        [](std::string_view x, std::string_view y) { return x < y; });
  }
};

// A family's name, help, type and label names, and its exposition.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, Type type, std::vector<std::string> labels)
      : name_(std::move(name)), help_(std::move(help)), type_(type), labels_(std::move(labels)) {}
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  Type type() const { return type_; }
  const std::vector<std::string>& label_names() const { return labels_; }
  // Appends "# HELP", "# TYPE" and every child's samples to |out|.
  virtual void Write(std::string* out) const = 0;

 protected:
  const std::string name_, help_;
  const Type type_;
  const std::vector<std::string> labels_;
};

// Text-format helpers, shared by the families and the collectors (metrics.cc).
void WriteHeader(std::string* out, const std::string& name, const std::string& help, Type type);
// name{l1="v1",...,extra} value, with |extra| ("le=\"0.5\"") appended to the labels.
void WriteSample(std::string* out, std::string_view name, const std::vector<std::string>& labels,
                 const std::vector<std::string>& values, std::string_view extra,
                 std::string_view value);
void WriteChild(std::string* out, const std::string& name, const std::vector<std::string>& labels,
                const std::vector<std::string>& values, const Counter& c);
void WriteChild(std::string* out, const std::string& name, const std::vector<std::string>& labels,
                const std::vector<std::string>& values, const Gauge& g);
void WriteChild(std::string* out, const std::string& name, const std::vector<std::string>& labels,
                const std::vector<std::string>& values, const Histogram& h);

}  // namespace detail

// One metric name and its children, one per set of label values (in the order of the
// family's label names).
template <typename T>
class Family : public detail::FamilyBase {
 public:
  static constexpr size_t kMaxChildren = 1000;

  Family(std::string name, std::string help, Type type, std::vector<std::string> labels,
         std::vector<double> bounds = {})
      : FamilyBase(std::move(name), std::move(help), type, std::move(labels)),
        bounds_(std::move(bounds)),
        overflow_(Make()) {}

  // The child of |values|, made at the first call. A wrong number of values (a bug) gets
  // the shared child that is not exposed, as does a new set past kMaxChildren.
  T& Get(std::initializer_list<std::string_view> values) EXCLUDES(mu_) {
    return Find(values.begin(), values.end());
  }
  T& Get(const std::vector<std::string>& values) EXCLUDES(mu_) {
    return Find(values.begin(), values.end());
  }

  void Write(std::string* out) const override EXCLUDES(mu_) {
    detail::WriteHeader(out, name_, help_, type_);
    ReaderMutexLock lock(&mu_);
    for (const auto& [values, child] : children_)
      detail::WriteChild(out, name_, labels_, values, *child);
  }

 private:
  std::unique_ptr<T> Make() {
    if constexpr (std::is_same_v<T, Histogram>) {
      return std::make_unique<T>(&bounds_);
    } else {
      return std::make_unique<T>();
    }
  }
  template <typename It>
  T& Find(It begin, It end) EXCLUDES(mu_) {
    struct Range {
      It b, e;
      It begin() const { return b; }
      It end() const { return e; }
    } key{begin, end};
    if (static_cast<size_t>(end - begin) != labels_.size()) return *overflow_;
    {
      ReaderMutexLock lock(&mu_);
      auto it = children_.find(key);
      if (it != children_.end()) return *it->second;
    }
    WriterMutexLock lock(&mu_);
    auto it = children_.find(key);
    if (it != children_.end()) return *it->second;
    if (children_.size() >= kMaxChildren) return *overflow_;
    std::vector<std::string> owned(begin, end);
    return *children_.emplace(std::move(owned), Make()).first->second;
  }

  const std::vector<double> bounds_;  // histograms only
  mutable SharedMutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>, detail::LabelsLess> children_
      GUARDED_BY(mu_);
  const std::unique_ptr<T> overflow_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// A gauge family a collector reports at scrape time.
struct CollectedGauge {
  std::string name, help;
  std::vector<std::string> label_names;
  std::vector<std::pair<std::vector<std::string>, double>> samples;  // label values, value
};
// Runs at each scrape, on the scraping thread; may block briefly (a SQLite query), must not
// throw (an exception is logged and the collector's families left out of that scrape).
using Collector = std::function<std::vector<CollectedGauge>()>;

class Registry;

// Keeps a collector registered while it lives. Move-only.
class Registration {
 public:
  Registration() = default;
  Registration(Registration&& other) noexcept;
  Registration& operator=(Registration&& other) noexcept;
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;
  // Removes the collector, waiting for a scrape that is running it.
  ~Registration();
  void Reset();

 private:
  friend class Registry;
  Registration(Registry* registry, uint64_t id) : registry_(registry), id_(id) {}
  Registry* registry_ = nullptr;
  uint64_t id_ = 0;
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The family |name|, made at the first call; a later call with the same name returns it.
  // A name, help or label name that is not valid Prometheus, or the name of a family of
  // another type or labels, is a bug: the process aborts saying which.
  CounterFamily& AddCounter(const std::string& name, const std::string& help,
                            std::vector<std::string> labels = {}) EXCLUDES(mu_);
  GaugeFamily& AddGauge(const std::string& name, const std::string& help,
                        std::vector<std::string> labels = {}) EXCLUDES(mu_);
  // |bounds|: the buckets' upper bounds, ascending, +Inf implied.
  HistogramFamily& AddHistogram(const std::string& name, const std::string& help,
                                std::vector<std::string> labels, std::vector<double> bounds)
      EXCLUDES(mu_);

  [[nodiscard]] Registration AddCollector(Collector collector) EXCLUDES(collectors_mu_);

  // The text format 0.0.4 of every family and collected gauge, by name. A family without
  // labels shows its one child (0 until changed); one with labels shows the children made
  // so far. A collected family whose name is already taken is left out (and logged).
  std::string Expose() EXCLUDES(mu_, collectors_mu_);

 private:
  friend class Registration;
  template <typename F, typename... Extra>
  F& Add(const std::string& name, const std::string& help, Type type,
         std::vector<std::string> labels, Extra&&... extra) EXCLUDES(mu_);
  void Remove(uint64_t id) EXCLUDES(collectors_mu_);

  Mutex mu_;
  std::map<std::string, std::unique_ptr<detail::FamilyBase>> families_ GUARDED_BY(mu_);
  Mutex collectors_mu_;
  uint64_t next_id_ GUARDED_BY(collectors_mu_) = 1;
  std::map<uint64_t, Collector> collectors_ GUARDED_BY(collectors_mu_);
};

// The process's registry (never destroyed): what GET /metrics exposes.
Registry& DefaultRegistry();

// The content type of the text format, for GET /metrics.
inline constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace modeld::metrics
