// What every implementation of policy::StateStore must do, as a GoogleTest
// suite that any implementation instantiates with a way to open it:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StateStoreContractTest,
//                            ::testing::Values(StoreFactory{"sqlite", ...}));
//
// The cases use only the interface: rows addressed by key, read-your-writes
// before the commit, ordered batches, tickets that become durable in order,
// and what a restart keeps. Implementation-specific behaviour (files,
// schemas, retention, the audit chain's storage) is tested beside each
// implementation.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "policy/state_store.h"

namespace hijackguard::store::testing {

struct StoreFactory {
  std::string name;  // for the test names: letters and digits
  // Opens the store kept under `dir` (an empty directory the first time;
  // the same directory again to reopen it, as after a restart).
  std::function<absl::StatusOr<std::unique_ptr<policy::StateStore>>(
      const std::string& dir)>
      open;
};

class StateStoreContractTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;
  // Opens (or reopens) the store; null with a test failure when it cannot.
  std::unique_ptr<policy::StateStore> Open();

  std::string dir_;
};

// For INSTANTIATE_TEST_SUITE_P's name generator.
std::string StoreName(const ::testing::TestParamInfo<StoreFactory>& info);
// GoogleTest prints the parameter as its name (not its bytes).
void PrintTo(const StoreFactory& factory, std::ostream* out);

}  // namespace hijackguard::store::testing
