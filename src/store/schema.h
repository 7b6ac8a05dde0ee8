// The registry's schema: numbered, append-only migrations, and Migrate, which brings a
// registry up to date. The version is SQLite's PRAGMA user_version; migration i (0-based)
// upgrades version i to i + 1. The tables are described in docs/store.md.
//
// Thread safety: the functions use the Db they are given, which one thread at a time may
// use (Store calls them with its mutex held). Several processes may migrate one file:
// Migrate's write transaction makes them take turns, and the second finds nothing to do.
#pragma once

#include <cstdint>
#include <span>

#include "core/status.h"
#include "store/sqlite.h"

namespace modeld::store {

// The migrations, oldest first: the SQL of each, run as one script. Append only: a
// registry made by any earlier modeld is upgraded by the suffix it has not run.
std::span<const char* const> Migrations();

// The schema version this modeld writes: the number of migrations.
int64_t LatestSchemaVersion();

// The schema version of |db| (0 for a new, empty registry). Reads only.
Result<int64_t> SchemaVersion(Db& db);

// Upgrades |db| to LatestSchemaVersion() in one write transaction (BEGIN IMMEDIATE): every
// migration not yet run, then the version. Nothing is written when it is current.
// FailedPrecondition ("upgrade modeld") for a registry newer than this modeld; the
// failing migration's error otherwise, with nothing changed.
// REQUIRES: |db| writable, no transaction open on it.
Status Migrate(Db& db);

}  // namespace modeld::store
