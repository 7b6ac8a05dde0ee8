// FileSource: the bytes of one file for one HTTP response, which may still be arriving
// (the Hub mirror serves a file from its partial download as it lands). The server sends
// them with sendfile(2) from fd(), as Readable allows, and waits with WhenReadable.
//
// Thread safety: every method is safe from any thread.
#pragma once

#include <cstdint>
#include <functional>

namespace modeld {

class FileSource {
 public:
  virtual ~FileSource() = default;
  virtual int fd() const = 0;
  virtual uint64_t size() const = 0;
  // How many bytes of [offset, end) may be sent now, starting at |offset| (0: none yet).
  virtual uint64_t Readable(uint64_t offset, uint64_t end) = 0;
  // Calls |fn| once, from any thread, when Readable(offset, end) may have grown or the
  // source failed (at once if either is already so). |fn| must not block.
  virtual void WhenReadable(uint64_t offset, uint64_t end, std::function<void()> fn) = 0;
  // The download failed (its digest did not match, the upstream failed): stop sending.
  virtual bool failed() const = 0;
};

}  // namespace modeld
