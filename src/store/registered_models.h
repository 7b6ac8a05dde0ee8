// The registered_models table (docs/store.md): models known by name that need not be
// installed. A client may register one to download later (Pieces' /models/create: a custom
// model, with what to pull for it), and an installed model whose files are removed while
// its entry is kept (Pieces' /models/{id}/delete/cache) keeps here what it was pulled from,
// so that it can be downloaded again. ModelService gives the rows their meaning; this only
// stores and reads them.
//
// The functions run on the Db they are given and take no lock of their own: Store's
// methods call them with its mutex held, the writes inside its write transaction.
//
// Thread safety: as the Db's: one thread at a time.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/db.h"

namespace modeld::store {

struct RegisteredModel {
  std::string ref;      // canonical "name:version" (the key)
  bool custom = false;  // created by a client (it may change it), not kept from an install
  // What to pull for it, as a user names a model: a URL, hf://org/name..., a catalog name;
  // empty: |recorded|, else the ref itself.
  std::string target;
  // What the install it was kept from was pulled with: {"source", "metadata"} as the models
  // table had them (the resolver's plan metadata). An object, empty when none.
  nlohmann::json recorded = nlohmann::json::object();
  // A client's own description of it (a Pieces Model's fields): an object, kept as given.
  nlohmann::json fields = nlohmann::json::object();
  int64_t created_at = 0;  // set on insert
  int64_t updated_at = 0;  // set on every write
};

// Inserts |m| or replaces the row of its ref (keeping created_at), stamped |now|.
// REQUIRES: a write transaction open on |db|; |m.ref| not empty.
Status PutRegisteredRow(Db& db, const RegisteredModel& m, int64_t now);

// The row of |ref|, or nullopt. Columns that are not valid JSON read as empty objects.
Result<std::optional<RegisteredModel>> GetRegisteredRow(Db& db, const std::string& ref);

// Every row, by ref.
Result<std::vector<RegisteredModel>> ListRegisteredRows(Db& db);

// Deletes the row of |ref|; false when there was none. REQUIRES: a write transaction.
Result<bool> DeleteRegisteredRow(Db& db, const std::string& ref);

}  // namespace modeld::store
