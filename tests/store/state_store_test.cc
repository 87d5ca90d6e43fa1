// The SQLite state store: opening (new, migrated, newer, foreign, damaged
// files), group commit, reading one's own writes, retention, backup, and the
// audit chain's verification against edits made with SQL.
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/strings.h"
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
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Optional;

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::hijackguard::testing::FreshTestDir("store");
    path_ = (dir_ / "hijackguard.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<SqliteStore> Open(SqliteStoreOptions o = {}) {
    o.path = path_;
    auto store = SqliteStore::Open(std::move(o));
    EXPECT_THAT(store.status(), IsOk());
    return store.ok() ? std::move(*store) : nullptr;
  }

  // The audit key the store created beside the database.
  std::string Key() const {
    auto key = ReadAuditKey((dir_ / "audit.key").string());
    EXPECT_THAT(key.status(), IsOk());
    return key.ok() ? *key : std::string();
  }

  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error),
              SQLITE_OK)
        << (error ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }

  static detector::DetectorChanges Device(const std::string& key,
                                          const std::string& value,
                                          const std::string& index = "") {
    detector::DetectorChanges c;
    c.devices.push_back({key, value, false, 1, index});
    return c;
  }

  static policy::AuditRecord Decision(int n) {
    policy::DecisionAudit d;
    d.decision_id = "d" + std::to_string(n);
    d.trigger = "CHECK_IN";
    d.tenant_id = "t1";
    d.eas_device_id = "Appl" + std::to_string(n);
    d.evaluated_action = policy::Action::kQuarantine;
    d.score = 61.5;
    d.reasons.push_back({"OBSERVED_ORGANIZER_REWRITE", 60, ""});
    return {absl::FromUnixSeconds(1'800'000'000 + n), d};
  }

  void AppendAudit(SqliteStore& store, int rows) {
    for (int i = 1; i <= rows; ++i) {
      policy::EngineChanges c;
      c.audit.push_back(Decision(i));
      ASSERT_THAT(store.WaitDurable(store.SubmitEngine(std::move(c))), IsOk());
    }
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(StateStoreTest, RowsSurviveReopeningAndTheSchemaIsCurrent) {
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    EXPECT_THAT(store->WaitDurable(store->Submit(Device("k1", "v1", "m1"))),
                IsOk());
    policy::EngineChanges c;
    policy::Exemption e;
    e.id = "t1/user/bob@example.com";
    e.tenant_id = "t1";
    e.kind = policy::Exemption::Kind::kUser;
    e.value = "bob@example.com";
    e.reason = "CAB-1";
    c.put_exemptions.push_back(e);
    c.policy = policy::AppliedPolicy{"rev1", "api", absl::FromUnixSeconds(5),
                                     "{\"apiVersion\":\"hijackguard/v1\"}"};
    EXPECT_THAT(store->WaitDurable(store->SubmitEngine(std::move(c))), IsOk());
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(*store->LoadDevice("k1"), Optional(std::string("v1")));
  EXPECT_THAT(*store->FindDeviceByIndex("m1"), Optional(std::string("k1")));
  EXPECT_EQ(*store->LoadDevice("k2"), std::nullopt);
  auto exemptions = store->LoadExemptions();
  ASSERT_THAT(exemptions.status(), IsOk());
  ASSERT_EQ(exemptions->size(), 1u);
  EXPECT_EQ((*exemptions)[0].reason, "CAB-1");
  auto latest = store->LatestPolicy("api");
  ASSERT_THAT(latest.status(), IsOk());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->revision, "rev1");
  store.reset();
  auto db = sqlite::Database::Open(path_, false, true);
  ASSERT_THAT(db.status(), IsOk());
  EXPECT_EQ(*db->QueryInt("PRAGMA user_version"), kStateSchemaVersion);
  EXPECT_EQ(*db->QueryText("PRAGMA journal_mode"), "wal");
}

TEST_F(StateStoreTest, OldSchemaIsMigratedForwardKeepingRows) {
  {
    auto db = sqlite::Database::Open(path_, true, false);
    ASSERT_THAT(db.status(), IsOk());
    ASSERT_THAT(sqlite::Migrate(*db, 1), IsOk());  // the first schema only
    ASSERT_THAT(db->Exec("INSERT INTO devices VALUES(x'6b31', NULL, 1, "
                         "x'7631')"),
                IsOk());
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(*store->LoadDevice("k1"), Optional(std::string("v1")));
  AppendAudit(*store, 1);  // the table version 2 added
  store.reset();
  auto v = VerifyAudit(path_, Key());
  ASSERT_THAT(v.status(), IsOk());
  EXPECT_TRUE(v->ok);
  EXPECT_EQ(v->rows, 1u);
}

// Schema 5 adds the device list's columns: history rows written before have
// none, keep their value, and are listed once their device is decided again.
TEST_F(StateStoreTest, HistoryOfSchema4IsListedFromItsNextDecision) {
  {
    auto db = sqlite::Database::Open(path_, true, false);
    ASSERT_THAT(db.status(), IsOk());
    ASSERT_THAT(sqlite::Migrate(*db, 4), IsOk());
    ASSERT_THAT(db->Exec("INSERT INTO history VALUES(CAST('acme' || "
                         "char(10) || 'e:A1' AS BLOB), 1, x'7631')"),
                IsOk());
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  const std::string key = "acme\ne:A1";
  EXPECT_THAT(*store->LoadEngineDevice(key), Optional(std::string("v1")));
  auto listed = store->ListDevices(policy::DeviceQuery());
  ASSERT_THAT(listed.status(), IsOk());
  EXPECT_TRUE(listed->devices.empty());

  policy::EngineChanges c;
  policy::DeviceListing d;
  d.tenant_id = "acme";
  d.eas_device_id = "A1";
  d.score = 30;
  d.evaluated_action = policy::Action::kWarn;
  c.devices.push_back({key, "v2", false, 2, ""});
  c.listings.push_back(d);
  EXPECT_THAT(store->WaitDurable(store->SubmitEngine(std::move(c))), IsOk());
  listed = store->ListDevices(policy::DeviceQuery());
  ASSERT_THAT(listed.status(), IsOk());
  ASSERT_EQ(listed->devices.size(), 1u);
  EXPECT_EQ(listed->devices[0].eas_device_id, "A1");
  EXPECT_EQ(listed->devices[0].evaluated_action, policy::Action::kWarn);
  store.reset();
  auto db = sqlite::Database::Open(path_, false, true);
  ASSERT_THAT(db.status(), IsOk());
  EXPECT_EQ(*db->QueryInt("PRAGMA user_version"), kStateSchemaVersion);

  // A listed column no version writes is an error, never a harmless ALLOW.
  Sql("UPDATE history SET enforced_action = 'PERMIT'");
  store = Open();
  ASSERT_NE(store, nullptr);
  listed = store->ListDevices(policy::DeviceQuery());
  EXPECT_EQ(listed.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(listed.status().message(),
              HasSubstr("history row of tenant acme device A1"));
}

// Schema 9 counts the fleet in history_tally: the migration counts the rows
// schema 8 left, and triggers follow each write, replacement and delete.
TEST_F(StateStoreTest, TheFleetsCountsFollowTheHistoryRows) {
  {
    auto db = sqlite::Database::Open(path_, true, false);
    ASSERT_THAT(db.status(), IsOk());
    ASSERT_THAT(sqlite::Migrate(*db, 8), IsOk());
    for (const char* id : {"A1", "A2"}) {
      ASSERT_THAT(
          db->Exec(StrCat(
              "INSERT INTO history(key, decided_ms, value, tenant, "
              "eas_device_id, enforced_action, evaluated_action, level, "
              "score, build, os_version, platform) VALUES(CAST('acme' || "
              "char(10) || 'e:",
              id, "' AS BLOB), 1, x'7631', 'acme', '", id,
              "', 'ALLOW', 'QUARANTINE', 'HIGH', 80, '10A403', '6.0', "
              "'ios')")),
          IsOk());
    }
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto count = [&]() -> std::uint64_t {
    auto counts = store->CountDevices("acme");
    EXPECT_THAT(counts.status(), IsOk());
    std::uint64_t n = 0;
    for (const policy::DeviceCount& c :
         counts.value_or(std::vector<policy::DeviceCount>())) {
      if (c.evaluated_action == policy::Action::kQuarantine) n += c.devices;
    }
    return n;
  };
  EXPECT_EQ(count(), 2u);
  store.reset();
  // Retention deletes history rows with SQL of its own.
  Sql("DELETE FROM history WHERE eas_device_id = 'A1'");
  store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(count(), 1u);
  store.reset();
  Sql("UPDATE history SET evaluated_action = 'ALLOW'");
  store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(count(), 0u);
}

// Every start looks for the audit log's first rekey row: through an index,
// not by reading the whole log.
TEST_F(StateStoreTest, TheRekeySearchAtStartUsesAnIndex) {
  Open().reset();
  auto db = sqlite::Database::Open(path_, false, true);
  ASSERT_THAT(db.status(), IsOk());
  auto plan = db->Prepare(
      "EXPLAIN QUERY PLAN SELECT ifnull(min(seq), 0) FROM audit WHERE kind = "
      "'rekey'");
  ASSERT_THAT(plan.status(), IsOk());
  std::string details;
  while (*plan->Step()) {
    details += std::string(plan->Blob(3)) + "\n";
  }
  // audit_rekey (schema 5), or audit_by_kind (schema 8), which covers it.
  EXPECT_THAT(details, AnyOf(HasSubstr("USING INDEX audit_rekey"),
                             HasSubstr("USING COVERING INDEX audit_by_kind")))
      << details;
}

TEST_F(StateStoreTest, NewerSchemaIsRefused) {
  Open().reset();
  Sql("PRAGMA user_version = 99");
  SqliteStoreOptions o;
  o.path = path_;
  auto store = SqliteStore::Open(o);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("schema version 99"));
  EXPECT_THAT(store.status().message(), HasSubstr("newer hijackguard"));
}

TEST_F(StateStoreTest, ForeignDatabaseAndNonDatabaseAreRefused) {
  Sql("CREATE TABLE notes(x)");
  SqliteStoreOptions o;
  o.path = path_;
  auto store = SqliteStore::Open(o);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("not hijackguard's"));

  std::filesystem::remove(path_);
  std::ofstream(path_) << std::string(4096, 'x');
  store = SqliteStore::Open(o);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("not an SQLite database"));
}

TEST_F(StateStoreTest, TruncatedOrEmptyFileIsAnErrorNotAnEmptyState) {
  {
    auto store = Open();
    for (int i = 0; i < 200; ++i) {
      store->Submit(Device("k" + std::to_string(i), std::string(500, 'v')));
    }
    ASSERT_THAT(store->WaitDurable(store->Submit(Device("last", "v"))), IsOk());
  }
  const auto size = std::filesystem::file_size(path_);
  ASSERT_GT(size, 8192u);
  std::filesystem::resize_file(path_, size / 2);
  SqliteStoreOptions o;
  o.path = path_;
  auto store = SqliteStore::Open(o);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(store.status().message(), HasSubstr("truncated"));
  EXPECT_THAT(store.status().message(), HasSubstr("restore the latest backup"));

  std::filesystem::resize_file(path_, 0);
  store = SqliteStore::Open(o);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(store.status().message(), HasSubstr("0 bytes"));
}

TEST_F(StateStoreTest, DamagedPagesAreFoundOnOpen) {
  {
    auto store = Open();
    for (int i = 0; i < 300; ++i) {
      store->Submit(Device("k" + std::to_string(i), std::string(300, 'v'),
                           "m" + std::to_string(i)));
    }
    ASSERT_THAT(store->WaitDurable(store->Submit(Device("last", "v"))), IsOk());
  }
  // Overwrite the middle of the file (index and table pages) with noise.
  const auto size = std::filesystem::file_size(path_);
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    for (int i = 0; i < 8192; ++i) f.put(static_cast<char>((i * 7919) & 0xFF));
  }
  SqliteStoreOptions o;
  o.path = path_;
  auto store = SqliteStore::Open(o);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss)
      << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr("hijackguard.db"));
}

TEST_F(StateStoreTest, ReadsSeeTheirOwnWritesAndErasures) {
  auto store = Open();
  detector::DetectorChanges c;
  c.ledger.push_back({"L1", "one", false, 10, ""});
  store->Submit(std::move(c));
  // Before or after the commit, the same answer.
  EXPECT_THAT(*store->LoadLedgerEntry("L1"), Optional(std::string("one")));
  detector::DetectorChanges erase;
  erase.ledger.push_back({"L1", "", true, 0, ""});
  const auto ticket = store->Submit(std::move(erase));
  EXPECT_EQ(*store->LoadLedgerEntry("L1"), std::nullopt);
  ASSERT_THAT(store->WaitDurable(ticket), IsOk());
  EXPECT_EQ(*store->LoadLedgerEntry("L1"), std::nullopt);
  EXPECT_TRUE(store->IsDurable(ticket));
}

TEST_F(StateStoreTest, AFailedReadGivesItsConnectionBack) {
  auto store = Open();
  const std::size_t readers = store->stats().idle_readers;
  ASSERT_GT(readers, 0u);
  // Another process renames a table: reads of it fail from then on. (A
  // connection's first read after that fails while stepping, its next one
  // while preparing: the path that kept the connection.)
  Sql("ALTER TABLE pending RENAME TO pending_elsewhere");
  for (std::size_t i = 0; i < readers; ++i) {
    std::vector<std::pair<std::string, std::string>> rows;
    EXPECT_FALSE(store->LoadAllPending(&rows).ok());
    // Checked after each call: were all connections kept, the next read
    // would wait forever.
    ASSERT_EQ(store->stats().idle_readers, readers) << "after call " << i + 1;
  }
}

TEST_F(StateStoreTest, ConcurrentWritersShareCommits) {
  auto store = Open();
  constexpr int kThreads = 8;
  constexpr int kEach = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string key =
            "d" + std::to_string(t) + "-" + std::to_string(i);
        ASSERT_THAT(store->WaitDurable(store->Submit(Device(key, key))),
                    IsOk());
      }
    });
  }
  for (auto& t : threads) t.join();
  const StoreStats stats = store->stats();
  EXPECT_EQ(stats.submissions, static_cast<std::uint64_t>(kThreads * kEach));
  // Eight writers waiting for their own commits: most commits carry several.
  EXPECT_LT(stats.commits, stats.submissions / 2) << stats.commits;
  EXPECT_THAT(*store->LoadDevice("d7-299"), Optional(std::string("d7-299")));
}

TEST_F(StateStoreTest, WhenDurableCallsBackInOrderOnce) {
  auto store = Open();
  std::mutex mu;
  std::vector<detector::StoreTicket> seen;
  std::vector<detector::StoreTicket> tickets;
  for (int i = 0; i < 100; ++i) {
    const auto t = store->Submit(Device("k" + std::to_string(i), "v"));
    tickets.push_back(t);
    store->WhenDurable(t, [&, t](absl::Status s) {
      EXPECT_THAT(s, IsOk());
      std::lock_guard<std::mutex> lock(mu);
      seen.push_back(t);
    });
  }
  ASSERT_THAT(store->WaitDurable(tickets.back()), IsOk());
  store.reset();  // callbacks have run by the time the writer stops
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, tickets);
}

TEST_F(StateStoreTest, RetentionDeletesOnlyExpiredEventsAndLedgerRows) {
  SqliteStoreOptions o;
  o.ledger_ttl = absl::Hours(24);
  auto store = Open(o);
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  auto ms = [&](absl::Duration ago) { return absl::ToUnixMillis(now - ago); };
  detector::DetectorChanges c;
  for (int i = 0; i < 2500; ++i) {
    c.events.push_back({"old-event" + std::to_string(i), "e", false,
                        ms(absl::Hours(24 * 71)), ""});
  }
  c.events.push_back({"new-event", "e", false, ms(absl::Hours(24 * 69)), ""});
  c.ledger.push_back({"old-ledger", "l", false, ms(absl::Hours(25)), ""});
  c.ledger.push_back({"new-ledger", "l", false, ms(absl::Hours(23)), ""});
  ASSERT_THAT(store->WaitDurable(store->Submit(std::move(c))), IsOk());
  ASSERT_THAT(store->Prune(now, absl::Hours(24 * 70), 1000), IsOk());
  EXPECT_EQ(store->stats().pruned[kPrunedEvents], 2500u);
  EXPECT_EQ(store->stats().pruned[kPrunedLedger], 1u);
  EXPECT_EQ(*store->LoadLedgerEntry("old-ledger"), std::nullopt);
  EXPECT_THAT(*store->LoadLedgerEntry("new-ledger"),
              Optional(std::string("l")));
  std::vector<std::string> events;
  ASSERT_THAT(store->LoadEvents("new", "new", &events), IsOk());
  EXPECT_EQ(events.size(), 1u);
}

TEST_F(StateStoreTest, BackupMakesMissingDirectoriesOrNamesTheOneItCannot) {
  auto store = Open();
  ASSERT_THAT(store->WaitDurable(store->Submit(Device("k1", "v1"))), IsOk());
  const std::filesystem::path nested = dir_ / "backups" / "2026" / "hg.db";
  ASSERT_THAT(BackupState(path_, nested.string()), IsOk());
  EXPECT_TRUE(std::filesystem::is_regular_file(nested));
  EXPECT_EQ(std::filesystem::status(nested.parent_path()).permissions() &
                std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
  std::ofstream(dir_ / "a-file") << "x";
  const absl::Status under_a_file =
      BackupState(path_, (dir_ / "a-file" / "sub" / "hg.db").string());
  EXPECT_EQ(under_a_file.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(under_a_file.message()),
              HasSubstr("cannot make the backup's directory " +
                        (dir_ / "a-file" / "sub").string() + ": "));
}

TEST_F(StateStoreTest, BackupIsAConsistentCheckedCopy) {
  auto store = Open();
  AppendAudit(*store, 5);
  ASSERT_THAT(store->WaitDurable(store->Submit(Device("k1", "v1"))), IsOk());
  const std::string backup = (dir_ / "backup.db").string();
  ASSERT_THAT(BackupState(path_, backup), IsOk());  // while the store is open
  EXPECT_EQ(BackupState(path_, backup).code(),
            absl::StatusCode::kAlreadyExists);
  store.reset();
  // Restore: the copy as the state database.
  std::filesystem::remove(path_);
  std::filesystem::copy_file(backup, path_);
  store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(*store->LoadDevice("k1"), Optional(std::string("v1")));
  store.reset();
  auto v = VerifyAudit(path_, Key());
  ASSERT_THAT(v.status(), IsOk());
  EXPECT_TRUE(v->ok) << v->problem;
  EXPECT_EQ(v->rows, 5u);
}

class AuditTamperTest : public StateStoreTest {
 protected:
  void SetUp() override {
    StateStoreTest::SetUp();
    auto store = Open();
    AppendAudit(*store, 6);
    store.reset();
    auto v = VerifyAudit(path_, Key());
    ASSERT_THAT(v.status(), IsOk());
    ASSERT_TRUE(v->ok) << v->problem;
    ASSERT_EQ(v->rows, 6u);
  }
  AuditVerification Verify() {
    auto v = VerifyAudit(path_, Key());
    EXPECT_THAT(v.status(), IsOk());
    return v.ok() ? *v : AuditVerification{};
  }
};

TEST_F(AuditTamperTest, AnEditedRowIsPinpointed) {
  Sql("UPDATE audit SET record = replace(record, 'QUARANTINE', 'ALLOW') "
      "WHERE seq = 4");
  const AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 4u);
  EXPECT_THAT(v.problem, HasSubstr("row 4 was altered"));
}

TEST_F(AuditTamperTest, AnEditedRowWithARecomputedHashBreaksTheLink) {
  // A careful forger: edits row 3 and recomputes its hash.
  auto db = sqlite::Database::Open(path_, false, false);
  ASSERT_THAT(db.status(), IsOk());
  auto record = db->QueryText("SELECT record FROM audit WHERE seq = 3");
  auto prev = db->QueryText("SELECT prev_hash FROM audit WHERE seq = 3");
  std::string forged = *record;
  forged.replace(forged.find("QUARANTINE"), 10, "ALLOW");
  auto stmt =
      db->Prepare("UPDATE audit SET record = ?1, hash = ?2 WHERE seq = 3");
  ASSERT_THAT(stmt.status(), IsOk());
  const std::string hash = AuditHash(Key(), *prev, forged);
  stmt->BindText(1, forged).BindText(2, hash);
  ASSERT_THAT(stmt->Run(), IsOk());
  const AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 3u);
  EXPECT_THAT(v.problem, HasSubstr("between rows 3 and 4")) << v.bad_seq;
}

TEST_F(AuditTamperTest, DeletedRowsAreFoundInTheMiddleAndAtTheEnd) {
  Sql("DELETE FROM audit WHERE seq = 2");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 2u);
  EXPECT_THAT(v.problem, HasSubstr("deleted"));

  Sql("INSERT INTO audit SELECT 2, at_us, kind, record, prev_hash, hash FROM "
      "audit WHERE seq = 3");  // a copied row in the gap
  v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 2u);

  Sql("DELETE FROM audit WHERE seq = 2");
  Sql("DELETE FROM audit WHERE seq >= 3");
  Sql("INSERT INTO audit SELECT 2, 0, 'x', 'x', 'x', 'x' WHERE 0");  // no-op
  v = Verify();
  EXPECT_FALSE(v.ok);
}

TEST_F(AuditTamperTest, RowsCutFromTheEndAreFound) {
  Sql("DELETE FROM audit WHERE seq >= 5");
  const AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 5u);
  EXPECT_THAT(v.problem, HasSubstr("deleted from the end"));
}

TEST_F(AuditTamperTest, ExportWritesJsonLinesSince) {
  std::ostringstream out;
  auto n = ExportAudit(path_, absl::FromUnixSeconds(1'800'000'004), out);
  ASSERT_THAT(n.status(), IsOk());
  EXPECT_EQ(*n, 3u);  // rows 4, 5, 6
  std::istringstream lines(out.str());
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    ++count;
    EXPECT_THAT(line, HasSubstr("\"kind\":\"decision\""));
    EXPECT_THAT(line, HasSubstr("\"hash\":\""));
    EXPECT_EQ(line.back(), '}');
  }
  EXPECT_EQ(count, 3);
}

TEST_F(AuditTamperTest, ARecordWithFieldsOfTheWrongTypeIsReportedNotFatal) {
  // A forger who re-hashes a record whose seq is a string.
  auto db = sqlite::Database::Open(path_, false, false);
  ASSERT_THAT(db.status(), IsOk());
  auto record = db->QueryText("SELECT record FROM audit WHERE seq = 2");
  auto prev = db->QueryText("SELECT prev_hash FROM audit WHERE seq = 2");
  std::string forged = *record;
  forged.replace(forged.find("\"seq\":2"), 7, "\"seq\":\"2\"");
  const std::string hash = AuditHash(Key(), *prev, forged);
  auto stmt =
      db->Prepare("UPDATE audit SET record = ?1, hash = ?2 WHERE seq = 2");
  ASSERT_THAT(stmt.status(), IsOk());
  stmt->BindText(1, forged).BindText(2, hash);
  ASSERT_THAT(stmt->Run(), IsOk());
  const AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 2u);
}

TEST_F(AuditTamperTest, RowsCutFromTheEndStopTheStart) {
  Sql("DELETE FROM audit WHERE seq >= 5");
  SqliteStoreOptions refuse;
  refuse.path = path_;
  auto refused = SqliteStore::Open(refuse);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("--accept-broken-audit"));
}

TEST_F(AuditTamperTest, AcceptingABrokenLogKeepsTheGapVisibleAndRecordsIt) {
  Sql("DELETE FROM audit WHERE seq >= 5");
  {
    SqliteStoreOptions o;
    o.accept_broken_audit = true;
    auto store = Open(o);  // appends continue after the recorded head
    ASSERT_NE(store, nullptr);
    AppendAudit(*store, 2);
  }
  const AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 5u);
  EXPECT_THAT(v.problem, ::testing::HasSubstr("rows 5..6 were deleted"));
  auto db = sqlite::Database::Open(path_, false, false);
  ASSERT_THAT(db.status(), IsOk());
  EXPECT_EQ(*db->QueryText("SELECT kind FROM audit WHERE seq = 7"),
            "accept_broken");
}

TEST_F(AuditTamperTest, RowsAddedAfterTheHeadStopTheStart) {
  Sql("INSERT INTO audit SELECT 7, at_us, kind, record, prev_hash, hash FROM "
      "audit WHERE seq = 6");
  SqliteStoreOptions o;
  o.path = path_;
  auto store = SqliteStore::Open(o);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("audit verify"));
}

}  // namespace
}  // namespace hijackguard::store

namespace hijackguard::store {
namespace {

TEST_F(StateStoreTest, RetentionDeletesDevicesHistoryAndPendingNotSeenSince) {
  SqliteStoreOptions o;
  o.retention.devices = absl::Hours(24);
  o.retention.history = absl::Hours(48);
  o.retention.pending = absl::Hours(24);
  auto store = Open(o);
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  auto ms = [&](absl::Duration ago) { return absl::ToUnixMillis(now - ago); };
  detector::DetectorChanges c;
  c.devices.push_back({"old-device", "d", false, ms(absl::Hours(25)), "m1"});
  c.devices.push_back({"new-device", "d", false, ms(absl::Hours(23)), "m2"});
  c.pending.push_back({"old-pending", "p", false, ms(absl::Hours(25)), ""});
  c.pending.push_back({"new-pending", "p", false, ms(absl::Hours(1)), ""});
  ASSERT_THAT(store->WaitDurable(store->Submit(std::move(c))), IsOk());
  policy::EngineChanges e;
  e.devices.push_back({"old-history", "h", false, ms(absl::Hours(49)), ""});
  e.devices.push_back({"new-history", "h", false, ms(absl::Hours(47)), ""});
  ASSERT_THAT(store->WaitDurable(store->SubmitEngine(std::move(e))), IsOk());

  ASSERT_THAT(store->Prune(now, absl::ZeroDuration(), 1000), IsOk());
  EXPECT_EQ(store->stats().pruned[kPrunedDevices], 1u);
  EXPECT_EQ(store->stats().pruned[kPrunedHistory], 1u);
  EXPECT_EQ(store->stats().pruned[kPrunedPending], 1u);
  EXPECT_EQ(store->stats().pruned[kPrunedAudit], 0u) << "kept forever";
  EXPECT_EQ(*store->LoadDevice("old-device"), std::nullopt);
  EXPECT_THAT(*store->LoadDevice("new-device"), Optional(std::string("d")));
  EXPECT_EQ(*store->LoadEngineDevice("old-history"), std::nullopt);
  EXPECT_THAT(*store->LoadEngineDevice("new-history"),
              Optional(std::string("h")));
  std::vector<std::pair<std::string, std::string>> pending;
  ASSERT_THAT(store->LoadAllPending(&pending), IsOk());
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].first, "new-pending");
}

TEST_F(StateStoreTest, PrunedAuditRowsLeaveASignedAnchorThatVerifies) {
  SqliteStoreOptions o;
  o.retention.audit = absl::Hours(24);
  auto store = Open(o);
  AppendAudit(*store, 30);  // rows 1..30, one second apart
  const absl::Time first = absl::FromUnixSeconds(1'800'000'001);
  // A day and ten seconds after the first row: rows 1..10 are older.
  ASSERT_THAT(store->Prune(first + absl::Hours(24) + absl::Seconds(10),
                           absl::ZeroDuration(), 4),
              IsOk());
  EXPECT_EQ(store->stats().pruned[kPrunedAudit], 10u);
  auto [head_seq, head] = store->audit_head();
  store.reset();

  auto v = VerifyAudit(path_, Key());
  ASSERT_THAT(v, IsOk());
  EXPECT_TRUE(v->ok) << v->problem;
  EXPECT_EQ(v->pruned_through, 10u);
  EXPECT_EQ(v->first_seq, 11u);
  // Each chunk of 4 recorded its pruning in the chain: 3 "prune" rows.
  EXPECT_EQ(v->last_seq, 33u);
  EXPECT_EQ(v->last_seq, head_seq);

  // A checkpoint of a pruned row is vouched for by the anchor.
  const AuditCheckpoint old = MakeCheckpoint(Key(), 5, "", absl::Now());
  auto with_old = VerifyAudit(path_, Key(), &old);
  ASSERT_THAT(with_old, IsOk());
  EXPECT_TRUE(with_old->ok) << with_old->problem;

  // Moving the anchor to hide more deleted rows breaks its mac.
  Sql("DELETE FROM audit WHERE seq <= 12");
  Sql("UPDATE meta SET value = '12' || substr(value, 3) "
      "WHERE name = 'audit_anchor'");
  auto forged = VerifyAudit(path_, Key());
  ASSERT_THAT(forged, IsOk());
  EXPECT_FALSE(forged->ok);
  EXPECT_THAT(forged->problem, HasSubstr("prune anchor"));

  // Without the anchor the deleted start shows.
  Sql("DELETE FROM meta WHERE name = 'audit_anchor'");
  auto gone = VerifyAudit(path_, Key());
  ASSERT_THAT(gone, IsOk());
  EXPECT_FALSE(gone->ok);
  EXPECT_THAT(gone->problem, HasSubstr("row 1 is missing"));
}

TEST_F(StateStoreTest, RetentionNeverSignsAwayABrokenStretchOfTheAudit) {
  SqliteStoreOptions o;
  o.retention.audit = absl::Hours(24);
  auto store = Open(o);
  AppendAudit(*store, 30);
  Sql("UPDATE audit SET record = replace(record, '\"d3\"', '\"dX\"') "
      "WHERE seq = 3");
  const absl::Time first = absl::FromUnixSeconds(1'800'000'001);
  ASSERT_THAT(store->Prune(first + absl::Hours(24) + absl::Seconds(10),
                           absl::ZeroDuration(), 100),
              IsOk());
  EXPECT_EQ(store->stats().pruned[kPrunedAudit], 0u);
  store.reset();
  auto v = VerifyAudit(path_, Key());
  ASSERT_THAT(v, IsOk());
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->bad_seq, 3u) << "the edit is still there to be found";
}

}  // namespace
}  // namespace hijackguard::store
