// Every on-disk name inside a data dir, made in one place (leveldb's db/filename.h):
//
//   registry.sqlite            the registry (SQLite adds -wal and -shm beside it)
//   blobs/sha256/<hex>         each distinct file once
//   content/<id>/<path>        one installed version: links to blobs
//   models/<name>/<version>    symlink -> ../../content/<id> (the path users open)
//   partial/<key digest>/      downloads in progress of one key (.part + .journal)
//   locks/<key digest>.lock    the flock() that keeps two processes off one download
//   removing/<content id>      an empty file per removal in progress
//
// Pure string and path work: nothing here touches the disk. Arguments are trusted (names
// are validated before they reach a path: core/names.h). docs/store.md has the layout.
//
// Thread safety: stateless functions, safe from any thread.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/names.h"

namespace modeld::store {

// <data_dir>/registry.sqlite
std::filesystem::path RegistryPath(const std::filesystem::path& data_dir);

// The directories Store::Open makes: blobs/sha256, content, models, partial, locks,
// removing (each under |data_dir|).
std::vector<std::filesystem::path> DataSubdirs(const std::filesystem::path& data_dir);

// <data_dir>/blobs/sha256 and <data_dir>/blobs/sha256/<sha256>.
std::filesystem::path BlobDir(const std::filesystem::path& data_dir);
std::filesystem::path BlobPath(const std::filesystem::path& data_dir, std::string_view sha256);
// A temporary name beside the blobs, <data_dir>/blobs/sha256/<sha256><suffix>, for a file
// about to be adopted as |sha256| (on the same file system, so the adoption is a rename).
// Gc leaves names that are not 64 characters long alone.
std::filesystem::path BlobTempPath(const std::filesystem::path& data_dir, std::string_view sha256,
                                   std::string_view suffix);

// <data_dir>/content and <data_dir>/content/<content_id>.
std::filesystem::path ContentRoot(const std::filesystem::path& data_dir);
std::filesystem::path ContentDir(const std::filesystem::path& data_dir,
                                 std::string_view content_id);

// <data_dir>/models and <data_dir>/models/<name>/<version> (built in one allocation: listing
// 10,000 models makes 10,000 of these).
std::filesystem::path ModelsRoot(const std::filesystem::path& data_dir);
std::filesystem::path ModelPath(const std::filesystem::path& data_dir, const ModelRef& ref);
// The relative target of ModelPath(ref)'s symlink: "../" once per directory between the
// link and the data dir, then content/<content_id> (so the data dir can move).
std::filesystem::path ContentLinkTarget(const ModelRef& ref, std::string_view content_id);

// What downloads of |key| (say, a URL or a model's pull key) are filed under: the first
// 32 hex digits of sha256(key).
std::string KeyDigest(std::string_view key);
// <data_dir>/partial and <data_dir>/partial/<KeyDigest(key)>.
std::filesystem::path PartialRoot(const std::filesystem::path& data_dir);
std::filesystem::path PartialDir(const std::filesystem::path& data_dir, std::string_view key);
// <data_dir>/locks and <data_dir>/locks/<KeyDigest(key)>.lock: the lock of
// PartialDir(data_dir, key).
std::filesystem::path LockRoot(const std::filesystem::path& data_dir);
std::filesystem::path LockPath(const std::filesystem::path& data_dir, std::string_view key);
// The same lock file named from a partial dir's name (a KeyDigest), as gc finds them.
std::filesystem::path LockPathForDigest(const std::filesystem::path& data_dir,
                                        std::string_view key_digest);

// <data_dir>/removing and <data_dir>/removing/<content_id>.
std::filesystem::path RemovingRoot(const std::filesystem::path& data_dir);
std::filesystem::path RemovalMarker(const std::filesystem::path& data_dir,
                                    std::string_view content_id);

}  // namespace modeld::store
