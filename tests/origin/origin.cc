#include "origin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "core/checksum.h"
#include "tcp_relay.h"

namespace modeld::testing {

namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

std::string RandomBytes(size_t size, uint64_t seed) {
  std::string out(size, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  size_t i = 0;
  while (i < size) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    for (int k = 0; k < 8 && i < size; ++k, ++i) out[i] = static_cast<char>(x >> (8 * k));
  }
  return out;
}

std::string Sha256Hex(const std::string& data) { return HashHex(HashAlgorithm::kSha256, data); }

TestOrigin::TestOrigin() {
  listen_fd_ = ListenLoopback(&port_, "test origin");
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

TestOrigin::~TestOrigin() { Stop(); }

void TestOrigin::Stop() {
  if (stop_.exchange(true)) return;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  accept_thread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : conn_fds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(conn_threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
}

std::string PercentDecode(const std::string& s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += plus_is_space && s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

std::string TestOrigin::Url(const std::string& path) const {
  if (!public_base_.empty()) return public_base_ + path;
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

// A path without a query also matches the targets that add one ("/f" matches "/f?sig=1"),
// as files are served by path: a signed URL's bytes count for its file.
static bool TargetMatches(const std::string& target, const std::string& path) {
  if (path.empty() || target == path) return true;
  return path.find('?') == std::string::npos && target.size() > path.size() &&
         target[path.size()] == '?' && target.compare(0, path.size(), path) == 0;
}

void TestOrigin::Put(const std::string& path, FileSpec spec) {
  std::lock_guard<std::mutex> lock(mu_);
  files_[path] = File{std::move(spec)};
}

void TestOrigin::Update(const std::string& path, const std::function<void(FileSpec&)>& fn) {
  std::lock_guard<std::mutex> lock(mu_);
  File& f = files_.at(path);
  fn(f.spec);
  // The shared copy stays unless the bytes changed (copying a large file takes long).
  if (!f.content || *f.content != f.spec.content) f.content.reset();
  f.etag_cache.clear();
}

void TestOrigin::RefuseConnectionsFor(std::chrono::milliseconds d) {
  std::lock_guard<std::mutex> lock(mu_);
  refuse_until_ = std::chrono::steady_clock::now() + d;
  if (d.count() > 0) {
    for (int fd : conn_fds_) ::shutdown(fd, SHUT_RDWR);
  }
}

void TestOrigin::ResetFaults(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return;
  it->second.gets = 0;
  it->second.slowed = 0;
}

int TestOrigin::MaxOpenConnections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_open_;
}

int TestOrigin::RefusedConnections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return refused_;
}

void TestOrigin::Handle(const std::string& prefix, Handler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  handlers_.emplace_back(prefix, std::move(handler));
}

std::vector<RequestLog> TestOrigin::Requests(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<RequestLog> out;
  for (const auto& r : log_) {
    if (TargetMatches(r.target, path)) out.push_back(r);
  }
  return out;
}

uint64_t TestOrigin::BodyBytes(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  return BodyBytesLocked(path);
}

uint64_t TestOrigin::BodyBytesLocked(const std::string& path) const {
  uint64_t n = 0;
  for (const auto& r : log_) {
    if (TargetMatches(r.target, path)) n += r.body_bytes;
  }
  return n;
}

bool TestOrigin::WaitForBodyBytes(const std::string& path, uint64_t bytes,
                                  std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return BodyBytesLocked(path) >= bytes; });
}

void TestOrigin::ResetLog() {
  std::lock_guard<std::mutex> lock(mu_);
  log_.clear();
}

bool TestOrigin::WaitForRequests(const std::string& path, size_t n,
                                 std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    return static_cast<size_t>(std::count_if(log_.begin(), log_.end(), [&](const RequestLog& r) {
             return TargetMatches(r.target, path);
           })) >= n;
  });
}

bool TestOrigin::WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, pred);
}

std::string TestOrigin::EtagFor(const FileSpec& spec) const {
  if (!spec.etag.empty()) return spec.etag;
  return "\"" + Sha256Hex(spec.content).substr(0, 16) + "\"";
}

void TestOrigin::AcceptLoop() {
  while (!stop_) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stop_) return;
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) {
      ::close(fd);
      return;
    }
    if (std::chrono::steady_clock::now() < refuse_until_) {
      linger reset{1, 0};  // close with a RST: the client reads "connection reset"
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
      ::close(fd);
      ++refused_;
      continue;
    }
    conn_fds_.push_back(fd);
    max_open_ = std::max(max_open_, static_cast<int>(conn_fds_.size()));
    conn_threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

namespace {

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 206:
      return "Partial Content";
    case 302:
      return "Found";
    case 307:
      return "Temporary Redirect";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 416:
      return "Range Not Satisfiable";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

// "bytes=a-b" / "bytes=a-" / "bytes=-n" against |size|; nullopt if absent or multi-range.
struct Range {
  uint64_t first, last;
  bool satisfiable;
};
std::optional<Range> ParseRange(const std::string& h, uint64_t size) {
  if (h.rfind("bytes=", 0) != 0 || h.find(',') != std::string::npos) return std::nullopt;
  std::string spec = h.substr(6);
  size_t dash = spec.find('-');
  if (dash == std::string::npos) return std::nullopt;
  try {
    if (dash == 0) {
      uint64_t n = std::stoull(spec.substr(1));
      if (n == 0 || size == 0) return Range{0, 0, false};
      return Range{size - std::min(n, size), size - 1, true};
    }
    uint64_t first = std::stoull(spec.substr(0, dash));
    uint64_t last = dash + 1 < spec.size() ? std::stoull(spec.substr(dash + 1)) : UINT64_MAX;
    if (first >= size) return Range{first, 0, false};
    return Range{first, std::min(last, size - 1), true};
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace

void TestOrigin::Serve(int fd) {
  std::string buffer;
  char chunk[16 * 1024];
  while (!stop_) {
    // Read one request head.
    http::request_parser<http::empty_body> parser;
    parser.header_limit(64 * 1024);
    parser.eager(true);
    boost::system::error_code ec;
    bool got = false;
    while (!got) {
      if (!buffer.empty()) {
        size_t used = parser.put(boost::asio::buffer(buffer), ec);
        buffer.erase(0, used);
        if (ec == http::error::need_more) {
          ec = {};
        } else if (ec) {
          ::close(fd);
          return;
        }
        if (parser.is_done()) {
          got = true;
          break;
        }
      }
      ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) {
        ::close(fd);
        return;
      }
      buffer.append(chunk, static_cast<size_t>(n));
    }
    const auto& req = parser.get();
    std::string method(req.method_string());
    std::string target(req.target());
    std::map<std::string, std::string> headers;
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      headers[name] = std::string(f.value());
    }
    auto hdr = [&](const char* n) {
      auto it = headers.find(n);
      return it == headers.end() ? std::string() : it->second;
    };
    RequestLog entry{method, target, hdr("range"), hdr("if-range"), hdr("authorization"), 0, 0};
    size_t log_index;
    {
      std::lock_guard<std::mutex> lock(mu_);
      log_index = log_.size();
      log_.push_back(entry);
    }
    cv_.notify_all();  // WaitForRequests
    auto set_status = [&](int status) {
      std::lock_guard<std::mutex> lock(mu_);
      log_[log_index].status = status;
    };
    bool keep_alive = req.keep_alive();
    bool head = method == "HEAD";

    // Custom handlers first.
    std::optional<SimpleResponse> custom;
    {
      std::unique_lock<std::mutex> lock(mu_);
      for (const auto& [prefix, h] : handlers_) {
        if (target.rfind(prefix, 0) == 0) {
          auto handler = h;
          lock.unlock();
          custom = handler(method, target, headers);
          break;
        }
      }
    }
    if (custom) {
      std::string out =
          "HTTP/1.1 " + std::to_string(custom->status) + " " + Reason(custom->status) + "\r\n";
      bool has_len = false;
      for (const auto& [k, v] : custom->headers) {
        out += k + ": " + v + "\r\n";
        if (strcasecmp(k.c_str(), "content-length") == 0) has_len = true;
      }
      if (!has_len) out += "Content-Length: " + std::to_string(custom->body.size()) + "\r\n";
      out += std::string("Connection: ") + (keep_alive ? "keep-alive" : "close") + "\r\n\r\n";
      if (!head) out += custom->body;
      set_status(custom->status);
      if (!SendAll(fd, out.data(), out.size()) || !keep_alive) break;
      continue;
    }

    // Files.
    FileSpec spec;  // a copy of the settings; the content is shared, not copied
    std::shared_ptr<const std::string> content;
    std::string etag;
    int fail = 0;
    bool drop = false, stall = false;
    const std::string file_path = target.substr(0, target.find('?'));
    {
      std::lock_guard<std::mutex> lock(mu_);
      const std::string& path = file_path;
      auto it = files_.find(path);
      if (it == files_.end()) {
        spec.content.clear();
        fail = 404;
      } else {
        File& f = it->second;
        if (!head) {
          ++f.gets;
          if (f.spec.change_after >= 0 && f.gets > f.spec.change_after && !f.changed) {
            f.changed = true;
            f.spec.content = f.spec.changed_content;
            f.content.reset();
            f.spec.etag = "\"changed-" + Sha256Hex(f.spec.content).substr(0, 12) + "\"";
            f.spec.last_modified = "Thu, 22 Oct 2026 07:28:00 GMT";
          }
          if (f.spec.fail_status && (f.spec.fail_times < 0 || f.gets <= f.spec.fail_times)) {
            fail = f.spec.fail_status;
          }
          drop = f.spec.drop_after >= 0 && (f.spec.drop_times < 0 || f.gets <= f.spec.drop_times);
          stall =
              f.spec.stall_after >= 0 && (f.spec.stall_times < 0 || f.gets <= f.spec.stall_times);
        }
        if (!f.content) f.content = std::make_shared<const std::string>(f.spec.content);
        content = f.content;
        std::string saved;
        saved.swap(f.spec.content);
        std::string saved_changed;
        saved_changed.swap(f.spec.changed_content);
        spec = f.spec;
        f.spec.content.swap(saved);
        f.spec.changed_content.swap(saved_changed);
        if (f.etag_cache.empty() || !f.spec.etag.empty()) {
          f.etag_cache = EtagFor(f.spec);
        }
        etag = f.etag_cache;
      }
    }
    if (fail == 0 && !spec.redirect_to.empty()) fail = 302;
    if (fail) {
      std::string body = fail == 404 ? "not found\n" : "error\n";
      std::string out = "HTTP/1.1 " + std::to_string(fail) + " " + Reason(fail) + "\r\n";
      if (fail == 302) out += "Location: " + spec.redirect_to + "\r\n";
      if (!spec.retry_after.empty() && fail != 302)
        out += "Retry-After: " + spec.retry_after + "\r\n";
      out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
      out += std::string("Connection: ") + (keep_alive ? "keep-alive" : "close") + "\r\n\r\n";
      if (!head) out += body;
      set_status(fail);
      if (!SendAll(fd, out.data(), out.size()) || !keep_alive) break;
      continue;
    }

    static const std::string kEmpty;
    const std::string& data = content ? *content : kEmpty;
    uint64_t real = data.size();
    uint64_t announced = real + spec.lie_extra;
    int status = 200;
    uint64_t first = 0, last = announced == 0 ? 0 : announced - 1;
    std::string range_h = hdr("range"), if_range = hdr("if-range");
    bool use_range = spec.ranges && !spec.chunked && !range_h.empty();
    if (use_range && !if_range.empty() && if_range != etag && if_range != spec.last_modified) {
      use_range = false;  // If-Range mismatch: send the whole (new) file
    }
    std::string out;
    if (use_range) {
      auto r = ParseRange(range_h, announced);
      if (r && !r->satisfiable) {
        out = "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */" +
              std::to_string(announced) + "\r\nContent-Length: 0\r\n";
        out += std::string("Connection: ") + (keep_alive ? "keep-alive" : "close") + "\r\n\r\n";
        set_status(416);
        if (!SendAll(fd, out.data(), out.size()) || !keep_alive) break;
        continue;
      }
      if (r) {
        status = 206;
        first = r->first;
        last = r->last;
      }
    }
    uint64_t length = announced == 0 ? 0 : last - first + 1;
    out = "HTTP/1.1 " + std::to_string(status) + " " + Reason(status) + "\r\n";
    out += "ETag: " + etag + "\r\n";
    out += "Last-Modified: " + spec.last_modified + "\r\n";
    if (spec.ranges && !spec.chunked) out += "Accept-Ranges: bytes\r\n";
    if (!spec.content_disposition.empty()) {
      out += "Content-Disposition: " + spec.content_disposition + "\r\n";
    }
    if (!spec.content_encoding.empty())
      out += "Content-Encoding: " + spec.content_encoding + "\r\n";
    if (spec.chunked) {
      out += "Transfer-Encoding: chunked\r\n";
    } else {
      out += "Content-Length: " + std::to_string(length) + "\r\n";
      if (status == 206) {
        out += "Content-Range: bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" +
               std::to_string(announced) + "\r\n";
      }
    }
    out += std::string("Connection: ") + (keep_alive ? "keep-alive" : "close") + "\r\n\r\n";
    set_status(status);
    if (!SendAll(fd, out.data(), out.size())) break;
    if (head) {
      if (!keep_alive) break;
      continue;
    }

    // Body, with the faults.
    bool slow = false;
    if (!head && spec.slow_from >= 0 && static_cast<uint64_t>(spec.slow_from) >= first &&
        static_cast<uint64_t>(spec.slow_from) < first + length) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = files_.find(file_path);
      if (it != files_.end() && (spec.slow_times < 0 || it->second.slowed < spec.slow_times)) {
        ++it->second.slowed;
        slow = true;
      }
    }
    const uint64_t slow_from = static_cast<uint64_t>(std::max<int64_t>(spec.slow_from, 0));
    const uint64_t slow_rate = std::max<uint64_t>(spec.slow_rate, 1);
    std::optional<Clock::time_point> slow_start;
    uint64_t slow_sent = 0;
    uint64_t sent = 0;
    uint64_t end = std::min<uint64_t>(first + length, real);  // a liar stops at the real end
    uint64_t pos = first;
    bool ok = true;
    auto start = Clock::now();
    size_t piece = spec.rate ? std::max<size_t>(1024, std::min<size_t>(64 * 1024, spec.rate / 50))
                             : 256 * 1024;
    // A stall at a file offset: each response stops there, whatever range it began at.
    const uint64_t stall_after = !stall ? 0
                                 : spec.stall_at_offset
                                     ? static_cast<uint64_t>(std::max<int64_t>(
                                           spec.stall_after - static_cast<int64_t>(first), 0))
                                     : static_cast<uint64_t>(spec.stall_after);
    while (pos < end && ok && !stop_) {
      uint64_t n = std::min<uint64_t>(piece, end - pos);
      if (drop && sent + n > static_cast<uint64_t>(spec.drop_after)) {
        n = static_cast<uint64_t>(spec.drop_after) - sent;
      }
      if (stall && sent + n > stall_after) n = stall_after - sent;
      if (slow && pos < slow_from && pos + n > slow_from) n = slow_from - pos;
      if (slow && pos >= slow_from) {
        if (!slow_start) slow_start = Clock::now();
        n = std::min<uint64_t>(n, std::max<uint64_t>(1, slow_rate / 10));
      }
      const char* p = data.data() + pos;
      std::string patched;
      for (uint64_t off : spec.corrupt_offsets) {
        if (off >= pos && off < pos + n) {
          if (patched.empty()) patched.assign(p, n);
          patched[off - pos] ^= 0x5a;
        }
      }
      if (!patched.empty()) p = patched.data();
      if (spec.chunked && n > 0) {
        char sz[32];
        std::snprintf(sz, sizeof sz, "%llx\r\n", static_cast<unsigned long long>(n));
        ok = SendAll(fd, sz, std::strlen(sz)) && SendAll(fd, p, n) && SendAll(fd, "\r\n", 2);
      } else if (n > 0) {
        ok = SendAll(fd, p, n);
      }
      if (ok) {
        sent += n;
        pos += n;
        std::lock_guard<std::mutex> lock(mu_);
        log_[log_index].body_bytes += n;
      }
      cv_.notify_all();
      if (drop && sent >= static_cast<uint64_t>(spec.drop_after)) {
        ok = false;  // drop the connection mid-body
        break;
      }
      if (stall && sent >= stall_after) {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, std::chrono::seconds(120), [&] { return stop_.load(); });
        ok = false;
        break;
      }
      if (slow_start) {
        slow_sent += n;
        std::this_thread::sleep_until(  // throttling, not synchronisation
            *slow_start + std::chrono::microseconds(slow_sent * 1000000 / slow_rate));
      } else if (spec.rate) {
        auto due = start + std::chrono::microseconds(sent * 1000000 / spec.rate);
        std::this_thread::sleep_until(due);  // throttling, not synchronisation
      }
    }
    if (!ok || stop_) break;
    if (spec.chunked) {
      if (!SendAll(fd, "0\r\n\r\n", 5)) break;
    }
    if (end < first + length) break;  // the liar closes short of what it announced
    if (!keep_alive) break;
  }
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
  std::lock_guard<std::mutex> lock(mu_);
  std::erase(conn_fds_, fd);
}

}  // namespace modeld::testing
