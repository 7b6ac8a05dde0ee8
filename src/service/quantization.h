// Which GGUF quantization to download from a repository when the client names none: the
// one LM Studio picks (issue 14): Q4_K_M when there is one, else the smallest 4-bit
// quantization (Q4_*, IQ4_*), else the smallest of all. Pure functions over a repository's
// file listing; ModelService::DefaultQuantization lists the repository on the Hub.
//
// Thread safety: stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace modeld::service {

struct RepoFile {
  std::string path;  // in the repository ("gguf/model-Q4_K_M-00001-of-00002.gguf")
  uint64_t size = 0;
};

// The quantization a GGUF file holds, from its path, upper-cased: the last of its '-', '.'
// and '/'-separated parts that reads as a quantization (sources::LooksLikeQuantization):
// "model-Q4_K_M.gguf", "model.Q8_0.gguf", "model-q4_k_m-00001-of-00002.gguf",
// "Q4_K_M/model-00001-of-00002.gguf" all give "Q4_K_M". "" for a file that is not GGUF, a
// multimodal projector (a file name starting "mmproj"), or a name without one.
std::string GgufQuantization(std::string_view path);

// The quantization to pick from |files| (sizes summed per quantization, over split parts
// and folders): "Q4_K_M" if present, else the smallest 4-bit one, else the smallest; ties go
// to the first in name order. "" when no file holds a quantization (no GGUF).
std::string PickDefaultQuantization(const std::vector<RepoFile>& files);

}  // namespace modeld::service
