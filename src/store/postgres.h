// The registry on PostgreSQL (store/db.h's interface), through libpqxx: --registry
// postgresql://user:password@host:port/database (libpq's connection URI, any of its
// parameters). Several modeld processes may share one database (docs/store.md, "Several
// instances, one registry").
//
// One connection per PgDb. Statements run with their parameters sent apart from the SQL
// (never spliced in); outside a write transaction each runs on its own (autocommit). A
// write transaction (BeginWrite) is READ COMMITTED behind one transaction-scoped advisory
// lock that every modeld's writes take (kRegistryWriteLock): writers take turns as SQLite's
// BEGIN IMMEDIATE makes them, so two writers never see each other's half-done work and
// conflict only through a lost connection or a deadlock with something else, which
// surface as Unavailable (RegistryDb::WriteTx retries those, within a bound). A connection
// lost outside a transaction is opened again by the next statement.
//
// Nothing from libpqxx throws past this file: every exception becomes a Status (PgStatus),
// its message free of the URL's password (RedactText; libpq never echoes it).
//
// Built only when CMake finds libpqxx (MODELD_HAVE_PQXX); without it OpenPostgres says so.
//
// Thread safety: as any Db, one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "store/db.h"

namespace modeld::store {

// The advisory lock (pg_advisory_xact_lock's key) behind every write transaction, and so
// behind migrations: "modeld" in ASCII, then 1.
inline constexpr int64_t kRegistryWriteLock = 0x6d6f64656c640001;

// True when this modeld was built with libpqxx.
bool PostgresSupported();

// |url| with the connection parameters modeld wants unless the URL sets them:
// connect_timeout=10 (an unreachable server is an error in 10 s, not the system's TCP
// timeout, the store's mutex held meanwhile) and application_name=modeld (what
// pg_stat_activity shows).
std::string WithConnectionDefaults(const std::string& url);

// Connects to |url| (WithConnectionDefaults; "postgresql://..." or "postgres://...") and
// readies the session.
// Unavailable when the server cannot be reached, PermissionDenied when it refuses the
// login, FailedPrecondition when built without libpqxx.
Result<std::unique_ptr<Db>> OpenPostgres(const std::string& url);

// |sql| with SQLite's parameters ("?NNN", and "?" for the next number) as PostgreSQL's
// ("$NNN"), outside quoted strings and identifiers; |*params| gets the highest number
// used (0 for none).
std::string PgPlaceholders(std::string_view sql, int* params);

// The Status for a PostgreSQL error of SQLSTATE |sqlstate| ("" when there is none, as for
// a lost connection: Unavailable): 23xxx (unique, foreign key, not-null, check
// violations) -> AlreadyExists as SQLite's CONSTRAINT; 40001 (serialization failure),
// 40P01 (deadlock), 08xxx (connection), 53xxx but 53100, 55P03 (lock not available),
// 57P0x (shutdown) -> Unavailable; 53100 (disk full) -> NoSpace; 42501, 28xxx, 25006 (read
// only) -> PermissionDenied; XX001/XX002 (data or index corrupted) -> Corrupt; else IoError.
Status PgStatus(std::string_view sqlstate, const std::string& message);

}  // namespace modeld::store
