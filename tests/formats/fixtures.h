// The GGUF models the unit tests and the @huggingface/gguf cross-check both read: one
// with every value type (extremes, NaN and infinities, invalid UTF-8 strings, empty and
// nested arrays, a vocabulary longer than the listing limit) and a llama-like tensor table
// of several ggml types; and a model split in three parts as gguf-split writes it.
//
// Thread safety: stateless functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "gguf_writer.h"

namespace modeld::testing {

// general.architecture "llama", general.name "modeld test model", general.file_type 15
// (Q4_K_M), llama.context_length 4096, llama.embedding_length 64, llama.block_count 2.
GgufSpec AllTypesGguf(uint32_t version);
inline constexpr uint64_t kAllTypesVocab = 100;  // tokenizer.ggml.tokens' length

// The parts of one model, "split-0000N-of-00003.gguf": the first holds every key/value,
// each part split.no (UINT16), split.count (UINT16) and split.tensors.count (INT32).
std::vector<std::pair<std::string, GgufSpec>> SplitGguf();

// The element count of every tensor of |specs|, summed.
uint64_t ParameterCount(const std::vector<GgufSpec>& specs);

// Writes the cross-check's files into |dir|: all-types-v3.gguf, all-types-v2.gguf,
// aligned-64.gguf and the split model. Returns their paths.
Result<std::vector<std::filesystem::path>> WriteCrossCheckFiles(const std::filesystem::path& dir);

}  // namespace modeld::testing
