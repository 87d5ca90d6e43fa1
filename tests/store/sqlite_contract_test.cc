// The SQLite store passes the suite every StateStore must pass.
#include <filesystem>

#include "store/sqlite/sqlite_store.h"
#include "store/testing/state_store_contract.h"

namespace hijackguard::store::testing {
namespace {

absl::StatusOr<std::unique_ptr<policy::StateStore>> OpenSqlite(
    const std::string& dir) {
  SqliteStoreOptions options;
  options.path = (std::filesystem::path(dir) / kStateFileName).string();
  auto store = SqliteStore::Open(std::move(options));
  if (!store.ok()) {
    return store.status();
  }
  return std::unique_ptr<policy::StateStore>(*std::move(store));
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StateStoreContractTest,
                         ::testing::Values(StoreFactory{"sqlite", OpenSqlite}),
                         StoreName);

}  // namespace
}  // namespace hijackguard::store::testing
