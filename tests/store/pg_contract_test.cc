// The PostgreSQL store passes the suite every StateStore must pass, on a
// throwaway cluster (store/testing/pg_cluster.h): one database per test.
#include <filesystem>

#include "common/sha256.h"
#include "store/postgres/pg_store.h"
#include "store/testing/pg_cluster.h"
#include "store/testing/state_store_contract.h"

namespace hijackguard::store::testing {
namespace {

absl::StatusOr<std::unique_ptr<policy::StateStore>> OpenPostgres(
    const std::string& dir) {
  std::string why;
  PgCluster* cluster = PgCluster::Shared(&why);
  if (cluster == nullptr) return absl::UnavailableError(why);
  // The same directory reopens the same database.
  const std::string database = "t" + Sha256Hex(dir).substr(0, 16);
  if (absl::Status s = cluster->CreateDatabase(database); !s.ok()) return s;
  PostgresStoreOptions options;
  options.dsn = cluster->Dsn(database);
  options.password = cluster->password();
  options.audit_key_file = (std::filesystem::path(dir) / "audit.key").string();
  auto store = PostgresStore::Open(std::move(options));
  if (!store.ok()) return store.status();
  return std::unique_ptr<policy::StateStore>(*std::move(store));
}

INSTANTIATE_TEST_SUITE_P(Postgres, StateStoreContractTest,
                         ::testing::Values(StoreFactory{"postgres",
                                                        OpenPostgres}),
                         StoreName);

}  // namespace
}  // namespace hijackguard::store::testing
