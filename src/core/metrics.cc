#include "core/metrics.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "core/log.h"

namespace modeld::metrics {

namespace {

[[noreturn]] void MetricsBug(const std::string& what) {
  std::fprintf(stderr, "modeld: metrics registry: %s\n", what.c_str());
  std::abort();
}

bool ValidMetricName(std::string_view n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool ValidLabelName(std::string_view n) {
  if (n.empty() || n.rfind("__", 0) == 0) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string_view TypeWord(Type t) {
  switch (t) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// HELP text: backslash and newline escaped.
void AppendHelp(std::string* out, std::string_view s) {
  for (char c : s) {
    if (c == '\\') {
      *out += "\\\\";
    } else if (c == '\n') {
      *out += "\\n";
    } else {
      *out += c;
    }
  }
}

// A label value: backslash, double quote and newline escaped.
void AppendLabelValue(std::string* out, std::string_view s) {
  for (char c : s) {
    if (c == '\\') {
      *out += "\\\\";
    } else if (c == '"') {
      *out += "\\\"";
    } else if (c == '\n') {
      *out += "\\n";
    } else {
      *out += c;
    }
  }
}

// A sample value or bucket bound: integers without a fraction, +Inf, -Inf, NaN, else the
// shortest form that reads back as the same double.
std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {
    return std::to_string(static_cast<int64_t>(v));
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Histogram.

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(*bounds), buckets_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                 bounds_.begin());  // the first bound >= v: le is inclusive
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  double sum = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(sum, sum + v, std::memory_order_relaxed)) {
  }
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

// ---------------------------------------------------------------------------------------
// The text format.

namespace detail {

void WriteHeader(std::string* out, const std::string& name, const std::string& help, Type type) {
  *out += "# HELP ";
  *out += name;
  *out += ' ';
  AppendHelp(out, help);
  *out += "\n# TYPE ";
  *out += name;
  *out += ' ';
  *out += TypeWord(type);
  *out += '\n';
}

void WriteSample(std::string* out, std::string_view name, const std::vector<std::string>& labels,
                 const std::vector<std::string>& values, std::string_view extra,
                 std::string_view value) {
  *out += name;
  if (!labels.empty() || !extra.empty()) {
    *out += '{';
    bool first = true;
    for (size_t i = 0; i < labels.size() && i < values.size(); ++i) {
      if (!first) *out += ',';
      first = false;
      *out += labels[i];
      *out += "=\"";
      AppendLabelValue(out, values[i]);
      *out += '"';
    }
    if (!extra.empty()) {
      if (!first) *out += ',';
      *out += extra;
    }
    *out += '}';
  }
  *out += ' ';
  *out += value;
  *out += '\n';
}

void WriteChild(std::string* out, const std::string& name, const std::vector<std::string>& labels,
                const std::vector<std::string>& values, const Counter& c) {
  WriteSample(out, name, labels, values, "", std::to_string(c.Value()));
}

void WriteChild(std::string* out, const std::string& name, const std::vector<std::string>& labels,
                const std::vector<std::string>& values, const Gauge& g) {
  WriteSample(out, name, labels, values, "", std::to_string(g.Value()));
}

void WriteChild(std::string* out, const std::string& name, const std::vector<std::string>& labels,
                const std::vector<std::string>& values, const Histogram& h) {
  Histogram::Snapshot s = h.Read();
  const std::string bucket = name + "_bucket";
  const std::vector<double> bounds = h.bounds();
  for (size_t i = 0; i < s.cumulative.size(); ++i) {
    std::string le = "le=\"";
    le += i < bounds.size() ? FormatValue(bounds[i]) : "+Inf";
    le += '"';
    WriteSample(out, bucket, labels, values, le, std::to_string(s.cumulative[i]));
  }
  WriteSample(out, name + "_sum", labels, values, "", FormatValue(s.sum));
  WriteSample(out, name + "_count", labels, values, "", std::to_string(s.count));
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// Registry.

template <typename F, typename... Extra>
F& Registry::Add(const std::string& name, const std::string& help, Type type,
                 std::vector<std::string> labels, Extra&&... extra) {
  if (!ValidMetricName(name)) MetricsBug("invalid metric name '" + name + "'");
  for (const auto& l : labels) {
    if (!ValidLabelName(l) || (type == Type::kHistogram && l == "le"))
      MetricsBug("invalid label name '" + l + "' of " + name);
  }
  MutexLock lock(&mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    auto* f = dynamic_cast<F*>(it->second.get());
    if (!f || f->type() != type || f->label_names() != labels)
      MetricsBug("'" + name + "' registered twice with another type or labels");
    return *f;
  }
  auto family =
      std::make_unique<F>(name, help, type, std::move(labels), std::forward<Extra>(extra)...);
  F& out = *family;
  if (out.label_names().empty()) out.Get({});  // shown, at 0, from the start
  families_.emplace(name, std::move(family));
  return out;
}

CounterFamily& Registry::AddCounter(const std::string& name, const std::string& help,
                                    std::vector<std::string> labels) {
  return Add<CounterFamily>(name, help, Type::kCounter, std::move(labels));
}

GaugeFamily& Registry::AddGauge(const std::string& name, const std::string& help,
                                std::vector<std::string> labels) {
  return Add<GaugeFamily>(name, help, Type::kGauge, std::move(labels));
}

HistogramFamily& Registry::AddHistogram(const std::string& name, const std::string& help,
                                        std::vector<std::string> labels,
                                        std::vector<double> bounds) {
  if (bounds.empty() || !std::is_sorted(bounds.begin(), bounds.end()) ||
      std::adjacent_find(bounds.begin(), bounds.end()) != bounds.end() ||
      std::isinf(bounds.back()) || std::isnan(bounds.back())) {
    MetricsBug("the buckets of " + name + " must be finite and strictly ascending");
  }
  return Add<HistogramFamily>(name, help, Type::kHistogram, std::move(labels), std::move(bounds));
}

Registration Registry::AddCollector(Collector collector) {
  MutexLock lock(&collectors_mu_);
  uint64_t id = next_id_++;
  collectors_.emplace(id, std::move(collector));
  return Registration(this, id);
}

void Registry::Remove(uint64_t id) {
  MutexLock lock(&collectors_mu_);
  collectors_.erase(id);
}

std::string Registry::Expose() {
  std::map<std::string, std::string> texts;  // by name
  {
    MutexLock lock(&mu_);
    for (const auto& [name, family] : families_) {
      std::string text;
      family->Write(&text);
      texts.emplace(name, std::move(text));
    }
  }
  {
    MutexLock lock(&collectors_mu_);
    for (const auto& [id, collect] : collectors_) {
      std::vector<CollectedGauge> gauges;
      try {
        gauges = collect();
      } catch (const std::exception& e) {
        log::Error("a metrics collector threw: {}", e.what());
        continue;
      } catch (...) {
        log::Error("a metrics collector threw");
        continue;
      }
      for (const auto& g : gauges) {
        if (!ValidMetricName(g.name) || texts.count(g.name)) {
          log::Error("metrics: collected gauge '{}' left out: invalid or taken name", g.name);
          continue;
        }
        bool labels_ok = true;
        for (const auto& l : g.label_names) labels_ok = labels_ok && ValidLabelName(l);
        if (!labels_ok) {
          log::Error("metrics: collected gauge '{}' left out: an invalid label name", g.name);
          continue;
        }
        std::string text;
        detail::WriteHeader(&text, g.name, g.help, Type::kGauge);
        for (const auto& [values, v] : g.samples) {
          if (values.size() != g.label_names.size()) continue;
          detail::WriteSample(&text, g.name, g.label_names, values, "", FormatValue(v));
        }
        texts.emplace(g.name, std::move(text));
      }
    }
  }
  std::string out;
  for (const auto& [name, text] : texts) out += text;
  return out;
}

Registration::Registration(Registration&& other) noexcept
    : registry_(other.registry_), id_(other.id_) {
  other.registry_ = nullptr;
}

Registration& Registration::operator=(Registration&& other) noexcept {
  if (this != &other) {
    Reset();
    registry_ = other.registry_;
    id_ = other.id_;
    other.registry_ = nullptr;
  }
  return *this;
}

Registration::~Registration() { Reset(); }

void Registration::Reset() {
  if (registry_) registry_->Remove(id_);
  registry_ = nullptr;
}

Registry& DefaultRegistry() {
  static Registry* registry = new Registry;  // never destroyed: threads may count at exit
  return *registry;
}

}  // namespace modeld::metrics
