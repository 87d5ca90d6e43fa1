// Starting after a crash or a full disk: a file cut while a checkpoint was
// writing it starts with every row (SQLite rebuilds the tail from the WAL),
// real truncation is still refused, and commits that fail are retried
// without acknowledging anything until they succeed.
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/sqlite/sqlite_store.h"
#include "tests/common/status_matchers.h"
#include "tests/common/test_dir.h"

namespace hijackguard::store {
namespace {

using ::hijackguard::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Optional;

// Rows k300..k599, appended in one transaction (new pages at the file's end).
constexpr const char* kThreeHundredMoreRows =
    "WITH RECURSIVE n(i) AS (SELECT 300 UNION ALL SELECT i + 1 FROM n "
    "WHERE i < 599) INSERT INTO devices(key, idx, active_ms, value) "
    "SELECT CAST('k' || i AS BLOB), NULL, 1, zeroblob(500) FROM n";

class StoreRecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::hijackguard::testing::FreshTestDir("recovery");
    path_ = (dir_ / "hijackguard.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  absl::StatusOr<std::unique_ptr<SqliteStore>> Open(SqliteStoreOptions o = {}) {
    o.path = path_;
    return SqliteStore::Open(std::move(o));
  }

  // A store with `n` device rows of 500 bytes, closed cleanly (no WAL).
  void Populate(int n) {
    auto store = Open();
    ASSERT_THAT(store, IsOk());
    StoreTicket last = 0;
    for (int i = 0; i < n; ++i) {
      detector::DetectorChanges c;
      c.devices.push_back(
          {"k" + std::to_string(i), std::string(500, 'v'), false, 1, ""});
      last = (*store)->Submit(std::move(c));
    }
    ASSERT_THAT((*store)->WaitDurable(last), IsOk());
  }

  // What a crash leaves behind after another connection committed `sql`
  // into the WAL and then checkpointed the WAL into the file without
  // resetting it: the file and its WAL as they were at that moment.
  void CommitIntoWalAndCrash(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    auto exec = [&](const std::string& s) {
      char* error = nullptr;
      EXPECT_EQ(sqlite3_exec(db, s.c_str(), nullptr, nullptr, &error),
                SQLITE_OK)
          << (error ? error : "");
      sqlite3_free(error);
    };
    exec("PRAGMA wal_autocheckpoint=0");
    exec(sql);
    exec("PRAGMA wal_checkpoint(PASSIVE)");
    const auto image = dir_ / "image";
    std::filesystem::copy_file(path_, image.string() + ".db");
    std::filesystem::copy_file(path_ + "-wal", image.string() + ".db-wal");
    sqlite3_close(db);  // checkpoints and removes the WAL: the crash did not
    std::filesystem::remove(path_ + "-shm");
    std::filesystem::rename(image.string() + ".db", path_);
    std::filesystem::rename(image.string() + ".db-wal", path_ + "-wal");
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(StoreRecoveryTest, AFileCutDuringACheckpointStartsWithEveryRow) {
  Populate(300);
  const auto before = std::filesystem::file_size(path_);
  CommitIntoWalAndCrash(kThreeHundredMoreRows);
  // The checkpoint wrote page 1 (its header counts every page) and stopped
  // before the new pages: they are only in the WAL.
  ASSERT_GT(std::filesystem::file_size(path_), before);
  std::filesystem::resize_file(path_, before);
  ASSERT_GT(std::filesystem::file_size(path_ + "-wal"), 0u);

  auto store = Open();
  ASSERT_THAT(store, IsOk());
  for (int i = 0; i < 600; ++i) {
    auto row = (*store)->LoadDevice("k" + std::to_string(i));
    ASSERT_THAT(row, IsOk());
    ASSERT_TRUE(row->has_value()) << "row k" << i << " is lost";
  }
  EXPECT_THAT((*store)->health(), IsOk());
}

TEST_F(StoreRecoveryTest, ATornWalFrameCoversNothing) {
  Populate(300);
  const auto before = std::filesystem::file_size(path_);
  CommitIntoWalAndCrash(kThreeHundredMoreRows);
  std::filesystem::resize_file(path_, before);
  // The commit frame lost its last bytes: SQLite's recovery drops the
  // whole transaction, so its pages do not cover the missing tail.
  const auto wal = std::filesystem::file_size(path_ + "-wal");
  std::filesystem::resize_file(path_ + "-wal", wal - 100);
  auto store = Open();
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(store.status().message(), HasSubstr("truncated"));
}

TEST_F(StoreRecoveryTest, AWalFrameWithABadChecksumCoversNothing) {
  Populate(300);
  const auto before = std::filesystem::file_size(path_);
  CommitIntoWalAndCrash(kThreeHundredMoreRows);
  std::filesystem::resize_file(path_, before);
  // One byte changed inside the last frame's page (the commit frame): its
  // checksum no longer holds, so the transaction does not count.
  const auto wal = std::filesystem::file_size(path_ + "-wal");
  {
    std::fstream f(path_ + "-wal",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(wal - 100));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(wal - 100));
    f.put(static_cast<char>(c ^ 0x5A));
  }
  ASSERT_EQ(std::filesystem::file_size(path_ + "-wal"), wal);
  auto store = Open();
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(store.status().message(), HasSubstr("truncated"));
}

TEST_F(StoreRecoveryTest, TruncationTheWalDoesNotCoverIsStillRefused) {
  Populate(300);
  const auto before = std::filesystem::file_size(path_);
  // A small transaction: the WAL holds a few pages, not the file's tail.
  CommitIntoWalAndCrash("INSERT INTO meta(name, value) VALUES('probe', 'x')");
  std::filesystem::resize_file(path_, before / 2);
  auto store = Open();
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(store.status().message(), HasSubstr("truncated"));
  EXPECT_THAT(store.status().message(), HasSubstr("copy the state directory"));
  EXPECT_THAT(store.status().message(), HasSubstr("audit verify"));
}

TEST_F(StoreRecoveryTest, FailedCommitsAreRetriedAndNothingIsAcknowledged) {
  std::mutex mu;
  std::vector<absl::Status> changes;
  SqliteStoreOptions o;
  o.on_health_change = [&](const absl::Status& s) {
    std::lock_guard<std::mutex> lock(mu);
    changes.push_back(s);
  };
  auto opened = Open(o);
  ASSERT_THAT(opened, IsOk());
  SqliteStore& store = **opened;
  detector::DetectorChanges first;
  first.devices.push_back({"before", "v", false, 1, ""});
  ASSERT_THAT(store.WaitDurable(store.Submit(std::move(first))), IsOk());

  store.CapFileForTesting(true);  // the disk is full
  detector::DetectorChanges big;
  for (int i = 0; i < 200; ++i) {
    big.devices.push_back(
        {"full-" + std::to_string(i), std::string(2000, 'x'), false, 1, ""});
  }
  const StoreTicket ticket = store.Submit(std::move(big));
  const absl::Status waited = store.WaitDurable(ticket);
  EXPECT_EQ(waited.code(), absl::StatusCode::kUnavailable) << waited;
  EXPECT_THAT(waited.message(), HasSubstr("not acknowledged"));
  EXPECT_FALSE(store.IsDurable(ticket));
  EXPECT_EQ(store.health().code(), absl::StatusCode::kUnavailable);
  std::atomic<int> answered{0};
  store.WhenDurable(ticket, [&](absl::Status s) {
    EXPECT_FALSE(s.ok());
    ++answered;
  });
  EXPECT_EQ(answered.load(), 1) << "answered at once, not left hanging";
  // The caller still reads its own writes meanwhile.
  EXPECT_THAT(*store.LoadDevice("full-7"), Optional(std::string(2000, 'x')));

  store.CapFileForTesting(false);  // space is freed
  for (int i = 0; i < 200 && !store.IsDurable(ticket); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(store.IsDurable(ticket)) << "the kept batch was committed";
  EXPECT_THAT(store.health(), IsOk());
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(changes.size(), 2u);
    EXPECT_EQ(changes[0].code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(changes[1], IsOk());
  }
  detector::DetectorChanges after;
  after.devices.push_back({"after", "v", false, 1, ""});
  EXPECT_THAT(store.WaitDurable(store.Submit(std::move(after))), IsOk());
  opened->reset();

  auto reopened = Open();
  ASSERT_THAT(reopened, IsOk());
  EXPECT_THAT(*(*reopened)->LoadDevice("full-199"),
              Optional(std::string(2000, 'x')));
  EXPECT_THAT(*(*reopened)->LoadDevice("after"), Optional(std::string("v")));
}

TEST_F(StoreRecoveryTest, AStoreThatCannotWriteStillStops) {
  auto opened = Open();
  ASSERT_THAT(opened, IsOk());
  (*opened)->CapFileForTesting(true);
  detector::DetectorChanges big;
  for (int i = 0; i < 200; ++i) {
    big.devices.push_back(
        {"full-" + std::to_string(i), std::string(2000, 'x'), false, 1, ""});
  }
  const StoreTicket ticket = (*opened)->Submit(std::move(big));
  EXPECT_FALSE((*opened)->WaitDurable(ticket).ok());
  const auto start = std::chrono::steady_clock::now();
  opened->reset();  // gives up after one more try; never hangs
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace hijackguard::store
