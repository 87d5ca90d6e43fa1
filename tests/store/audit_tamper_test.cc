// The keyed audit chain, what only SQLite has: a store from before the key is
// rekeyed, not forked; a missing key stops the start; checkpoints are signed
// and only of a log that verifies. (The tampering a forger without the key
// can do is tried on both stores in audit_tamper_stores_test.cc.)
#include <filesystem>

#include "common/hmac.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/audit_key.h"
#include "store/audit_log.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_store.h"
#include "tests/common/status_matchers.h"
#include "tests/common/test_dir.h"

namespace hijackguard::store {
namespace {

using ::hijackguard::testing::IsOk;
using ::testing::HasSubstr;

class KeyedAuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::hijackguard::testing::FreshTestDir("tamper");
    path_ = (dir_ / "hijackguard.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Append(int from, int n) {
    SqliteStoreOptions o;
    o.path = path_;
    auto store = SqliteStore::Open(o);
    ASSERT_THAT(store.status(), IsOk());
    for (int i = from; i < from + n; ++i) {
      policy::EngineChanges c;
      policy::PolicyAudit p;
      p.revision = "rev" + std::to_string(i);
      p.origin = "api";
      p.actor = {"secops", "client_cert", "ipv4:127.0.0.1"};
      c.audit.push_back({absl::FromUnixSeconds(1'800'000'000 + i), p});
      (*store)->SubmitEngine(std::move(c));
    }
    ASSERT_THAT((*store)->WaitDurable((*store)->SubmitEngine({})), IsOk());
  }

  std::string Key() const {
    return *ReadAuditKey((dir_ / "audit.key").string());
  }

  void Sql(const std::string& sql) {
    auto db = sqlite::Database::Open(path_, false, false);
    ASSERT_THAT(db.status(), IsOk());
    ASSERT_THAT(db->Exec(sql), IsOk()) << sql;
  }

  AuditVerification Verify(const AuditCheckpoint* checkpoint = nullptr) {
    auto v = VerifyAudit(path_, Key(), checkpoint);
    EXPECT_THAT(v.status(), IsOk());
    return v.ok() ? *v : AuditVerification{};
  }

  // Rewrites rows from `from` on so that each links to the previous one,
  // hashing with `key` ("" = plain SHA-256): what a forger without the key
  // can do.
  void Rechain(std::uint64_t from, const std::string& key) {
    auto db = sqlite::Database::Open(path_, false, false);
    ASSERT_THAT(db.status(), IsOk());
    ASSERT_THAT(db->Exec("BEGIN"), IsOk());
    std::string prev =
        from == 1 ? std::string(kAuditGenesis)
                  : *db->QueryText("SELECT hash FROM audit WHERE seq = " +
                                   std::to_string(from - 1));
    auto rows = db->Prepare(
        "SELECT seq, record, prev_hash FROM audit WHERE seq >= ?1 ORDER BY "
        "seq");
    rows->Bind(1, static_cast<std::int64_t>(from));
    std::vector<std::tuple<std::int64_t, std::string, std::string>> updates;
    while (*rows->Step()) {
      std::string record(rows->Blob(1));
      const std::string old_prev(rows->Blob(2));
      const std::size_t at = record.find(old_prev);
      record.replace(at, old_prev.size(), prev);
      const std::string hash = AuditHash(key, prev, record);
      updates.emplace_back(rows->Int(0), record, prev);
      prev = hash;
    }
    rows = db->Prepare(
        "UPDATE audit SET record = ?2, prev_hash = ?3, hash = ?4 WHERE seq = "
        "?1");
    prev = std::get<2>(updates.front());
    for (const auto& [seq, record, p] : updates) {
      const std::string hash = AuditHash(key, p, record);
      rows->Reset().Bind(1, seq).BindText(2, record).BindText(3, p).BindText(
          4, hash);
      ASSERT_THAT(rows->Run(), IsOk());
      prev = hash;
    }
    auto meta =
        db->Prepare("UPDATE meta SET value = ?1 WHERE name = 'audit_head'");
    const std::string head =
        std::to_string(std::get<0>(updates.back())) + " " + prev;
    meta->BindText(1, head);
    ASSERT_THAT(meta->Run(), IsOk());
    ASSERT_THAT(db->Exec("COMMIT"), IsOk());
  }

  // A schema-2 store: three rows chained by plain SHA-256, no key.
  void MakeLegacyStore() {
    auto db = sqlite::Database::Open(path_, true, false);
    ASSERT_THAT(db.status(), IsOk());
    ASSERT_THAT(sqlite::Migrate(*db, 2), IsOk());
    std::string prev(kAuditGenesis);
    for (int i = 1; i <= 3; ++i) {
      policy::PolicyAudit p;
      p.revision = "old" + std::to_string(i);
      const absl::Time at = absl::FromUnixSeconds(1'700'000'000 + i);
      AuditRow row =
          MakeAuditRow(static_cast<std::uint64_t>(i), {at, p}, prev, "");
      row.hash = Sha256Hex(prev + "\n" + row.record);
      auto insert = db->Prepare("INSERT INTO audit VALUES(?1,?2,?3,?4,?5,?6)");
      insert->Bind(1, std::int64_t{i})
          .Bind(2, absl::ToUnixMicros(at))
          .BindText(3, row.kind)
          .BindText(4, row.record)
          .BindText(5, prev)
          .BindText(6, row.hash);
      ASSERT_THAT(insert->Run(), IsOk());
      prev = row.hash;
    }
    ASSERT_THAT(
        db->Exec("INSERT INTO meta VALUES('audit_head', '3 " + prev + "')"),
        IsOk());
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(KeyedAuditTest, AForgedCheckpointIsRefused) {
  Append(0, 5);
  auto checkpoint = CheckpointAudit(path_, Key(), absl::Now());
  std::string line = CheckpointLine(*checkpoint);
  EXPECT_THAT(ParseCheckpoint(line, Key()).status(), IsOk());
  line.replace(line.find("\"seq\":5"), 7, "\"seq\":4");
  EXPECT_EQ(ParseCheckpoint(line, Key()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ParseCheckpoint("{\"seq\":\"x\"}", Key()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(KeyedAuditTest, AMissingKeyStopsTheStartWhenTheLogHasRows) {
  Append(0, 3);
  std::filesystem::rename(dir_ / "audit.key", dir_ / "moved.key");
  SqliteStoreOptions o;
  o.path = path_;
  auto store = SqliteStore::Open(o);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("fork"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "audit.key"));
}

TEST_F(KeyedAuditTest, AStoreFromBeforeTheKeyIsRekeyedAndStillVerifies) {
  MakeLegacyStore();
  Append(10, 2);  // opens (migrates, makes the key, rekeys) and appends
  const AuditVerification v = Verify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.rows, 6u);  // 3 old, the rekey row, 2 new
  auto db = sqlite::Database::Open(path_, false, false);
  EXPECT_EQ(*db->QueryText("SELECT kind FROM audit WHERE seq = 4"), "rekey");
  // An old row edited after the rekey: the keyed rekey row no longer links.
  Sql("UPDATE audit SET record = replace(record, 'old2', 'oldX') WHERE seq = "
      "2");
  Rechain(2, "");
  EXPECT_FALSE(Verify().ok);
}

TEST_F(KeyedAuditTest, ABrokenOldLogIsNotKeyedUntilTheOperatorAccepts) {
  MakeLegacyStore();
  Sql("UPDATE audit SET record = replace(record, 'old3', 'oldX') WHERE seq = "
      "3");
  SqliteStoreOptions o;
  o.path = path_;
  auto refused = SqliteStore::Open(o);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  // The key waits beside the log; nothing claims the log is keyed yet.
  EXPECT_FALSE(std::filesystem::exists(dir_ / "audit.key"));
  ASSERT_TRUE(std::filesystem::exists(dir_ / "audit.key.pending"));
  const std::string pending =
      *ReadAuditKey((dir_ / "audit.key.pending").string());
  o.accept_broken_audit = true;
  {
    auto store = SqliteStore::Open(o);
    ASSERT_THAT(store.status(), IsOk());
  }
  EXPECT_EQ(Key(), pending);  // the same key, moved into place
  EXPECT_FALSE(std::filesystem::exists(dir_ / "audit.key.pending"));
  auto db = sqlite::Database::Open(path_, false, false);
  EXPECT_EQ(*db->QueryText("SELECT kind FROM audit WHERE seq = 4"), "rekey");
  EXPECT_EQ(*db->QueryText("SELECT kind FROM audit WHERE seq = 5"),
            "accept_broken");
  const AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);  // row 3 stays altered, for all to see
  EXPECT_EQ(v.bad_seq, 3u);
}

TEST_F(KeyedAuditTest, ACheckpointIsOnlyMadeOfALogThatVerifies) {
  Append(0, 5);
  Sql("UPDATE audit SET record = replace(record, 'secops', 'mallory') WHERE "
      "seq = 2");
  EXPECT_EQ(CheckpointAudit(path_, Key(), absl::Now()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace hijackguard::store
