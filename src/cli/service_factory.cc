#include "cli/service_factory.h"

namespace modeld::cli {

Result<std::unique_ptr<service::ModelService>> OpenService(const std::string& data_dir) {
  auto store = store::Store::Open(store::DefaultStoreOptions(data_dir));
  if (!store.has_value()) return store.error();
  return std::make_unique<service::ModelService>(std::move(store.value()));
}

}  // namespace modeld::cli
