#include "engine/journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/json.h"

namespace modeld::engine {

namespace {

constexpr char kMagic[8] = {'M', 'D', 'J', 'R', 'N', 'L', '1', '\n'};
constexpr uint32_t kMaxRecord = 16 << 20;

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t GetU32(const unsigned char* p) {
  return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

std::string EncodeRecord(const JournalState& s) {
  nlohmann::json j;
  j["v"] = 1;
  j["url"] = s.url;
  j["etag"] = s.etag;
  j["last_modified"] = s.last_modified;
  if (s.size) j["size"] = *s.size;
  auto ranges = nlohmann::json::array();
  for (const auto& r : s.written) ranges.push_back({r.begin, r.end});
  j["written"] = ranges;
  if (!s.cached.empty()) {
    auto cached = nlohmann::json::array();
    for (const auto& r : s.cached) cached.push_back({r.begin, r.end});
    j["cached"] = cached;
    j["boot"] = s.boot_id;
  }
  std::string payload = j.dump();
  std::string rec;
  PutU32(&rec, static_cast<uint32_t>(payload.size()));
  PutU32(&rec, Crc32(payload.data(), payload.size()));
  rec += payload;
  return rec;
}

// A record whose CRC checks out but whose fields are not what EncodeRecord writes (a
// bug, a hand edit, another version) is not used: every access is checked, nothing
// throws (a string "v" or a negative size used to throw out of Load), and no number that
// is not an unsigned integer is converted (get<uint64_t> wraps -1 and is undefined
// behaviour for 1e300).
std::optional<JournalState> DecodePayload(std::string_view payload) {
  auto j = ParseJsonOrDiscarded(payload);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto u64 = [](const nlohmann::json& v) -> std::optional<uint64_t> {
    if (!v.is_number_unsigned()) return std::nullopt;
    return v.get<uint64_t>();
  };
  auto str = [&](const char* key, std::string* out) {
    auto it = j.find(key);
    if (it == j.end()) return true;
    if (!it->is_string()) return false;
    *out = it->get<std::string>();
    return true;
  };
  auto v = j.find("v");
  if (v == j.end() || u64(*v) != 1u) return std::nullopt;
  JournalState s;
  if (!str("url", &s.url) || !str("etag", &s.etag) || !str("last_modified", &s.last_modified)) {
    return std::nullopt;
  }
  if (auto size = j.find("size"); size != j.end()) {
    s.size = u64(*size);
    if (!s.size) return std::nullopt;
  }
  auto ranges = [&](const nlohmann::json& list, std::vector<ByteRange>* out) {
    if (!list.is_array()) return false;
    for (const auto& r : list) {
      if (!r.is_array() || r.size() != 2) return false;
      auto begin = u64(r[0]), end = u64(r[1]);
      if (!begin || !end || *end < *begin) return false;
      out->push_back({*begin, *end});
    }
    return true;
  };
  auto written = j.find("written");
  if (written == j.end() || !ranges(*written, &s.written)) return std::nullopt;
  if (auto cached = j.find("cached"); cached != j.end()) {
    if (!ranges(*cached, &s.cached) || !str("boot", &s.boot_id)) return std::nullopt;
  }
  return s;
}

Status WriteAll(int fd, const std::string& data) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write journal", errno);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return Status::OK();
}

}  // namespace

uint32_t Crc32(const void* data, size_t size) {
  static const auto kTable = MakeCrcTable();
  uint32_t c = 0xFFFFFFFFu;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) c = kTable[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

const std::string& CurrentBootId() {
  static const std::string id = [] {
    std::string out;
    UniqueFd fd(::open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return out;
    char buf[64];
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n > 0) out.assign(buf, static_cast<size_t>(n));
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  }();
  return id;
}

Result<std::optional<JournalState>> Journal::Load(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::optional<JournalState>();
    return ErrnoStatus("open " + path.string(), errno);
  }
  std::string data;
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read " + path.string(), errno);
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  auto decoded = Decode(data, path.string());
  if (decoded.has_value() && decoded->has_value()) {
    JournalState& s = **decoded;
    // The page cache of the boot that wrote them is still here: a process kill, not a
    // machine restart, separates that run from this one.
    if (!s.cached.empty() && !s.boot_id.empty() && s.boot_id == CurrentBootId()) {
      RangeSet all;
      for (const auto& r : s.written) all.Add(r.begin, r.end);
      for (const auto& r : s.cached) all.Add(r.begin, r.end);
      s.written = all.Ranges();
    }
    s.cached.clear();
  }
  return decoded;
}

Result<std::optional<JournalState>> Journal::Decode(std::string_view data, std::string_view what) {
  if (data.empty()) return std::optional<JournalState>();
  if (data.size() < sizeof kMagic || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0) {
    return Status::Corrupt("journal " + std::string(what) + " has no valid header");
  }
  std::optional<JournalState> last;
  size_t off = sizeof kMagic;
  while (data.size() - off >= 8) {
    const auto* p = reinterpret_cast<const unsigned char*>(data.data() + off);
    uint32_t len = GetU32(p);
    uint32_t crc = GetU32(p + 4);
    if (len > kMaxRecord || len > data.size() - off - 8) break;  // torn tail
    std::string_view payload = data.substr(off + 8, len);
    if (Crc32(payload.data(), payload.size()) != crc) break;  // torn or garbage tail
    if (auto s = DecodePayload(payload)) last = std::move(s);
    off += 8 + len;
  }
  return last;
}

std::string Journal::Encode(const JournalState& state) {
  return std::string(kMagic, sizeof kMagic) + EncodeRecord(state);
}

Result<Journal> Journal::Open(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoStatus("open " + path.string(), errno);
  off_t size = ::lseek(fd.get(), 0, SEEK_END);
  if (size < 0) return ErrnoStatus("seek " + path.string(), errno);
  if (size == 0) {
    if (Status s = WriteAll(fd.get(), std::string(kMagic, sizeof kMagic)); !s.ok()) return s;
    size = sizeof kMagic;
  }
  return Journal(path, std::move(fd), static_cast<uint64_t>(size));
}

Status Journal::Append(const JournalState& state, bool sync) {
  std::string rec = EncodeRecord(state);
  if (size_ + rec.size() > kCompactBytes) return Compact(rec, sync);
  if (Status s = WriteAll(fd_.get(), rec); !s.ok()) return s;
  size_ += rec.size();
  if (sync && ::fdatasync(fd_.get()) != 0) return ErrnoStatus("fdatasync journal", errno);
  return Status::OK();
}

Status Journal::Compact(const std::string& record, bool sync) {
  std::filesystem::path tmp = path_;
  tmp += ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoStatus("open " + tmp.string(), errno);
  Status s = WriteAll(fd.get(), std::string(kMagic, sizeof kMagic) + record);
  if (s.ok() && ::fdatasync(fd.get()) != 0) s = ErrnoStatus("fdatasync " + tmp.string(), errno);
  if (s.ok() && ::rename(tmp.c_str(), path_.c_str()) != 0) {
    s = ErrnoStatus("rename " + tmp.string(), errno);
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  if (sync) (void)FsyncDir(path_.parent_path().empty() ? "." : path_.parent_path());
  int newfd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (newfd < 0) return ErrnoStatus("reopen " + path_.string(), errno);
  fd_.Reset(newfd);
  size_ = sizeof kMagic + record.size();
  return Status::OK();
}

}  // namespace modeld::engine
