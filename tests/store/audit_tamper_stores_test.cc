// The keyed audit chain against a forger who can write the database but does
// not hold the audit key, on both stores (SQLite and a throwaway PostgreSQL
// cluster): each tampering is reported BROKEN by the verification `hijackguard
// audit verify` runs, truncation given a checkpoint taken before it. (What
// only SQLite has, a log from before the key, is in audit_tamper_test.cc.)
#include <filesystem>

#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/audit_key.h"
#include "store/audit_log.h"
#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/state_tools.h"
#include "store/testing/pg_cluster.h"
#include "tests/common/status_matchers.h"
#include "tests/common/test_dir.h"

namespace hijackguard::store {
namespace {

using ::hijackguard::testing::IsOk;
using ::testing::HasSubstr;

constexpr int kRows = 250;

struct Row {
  std::int64_t seq = 0;
  std::string record;
  std::string prev;
  std::string hash;
};

// One store's database as the forger sees it.
class Target {
 public:
  explicit Target(std::filesystem::path dir) : dir_(std::move(dir)) {}
  virtual ~Target() = default;
  virtual absl::StatusOr<std::unique_ptr<DurableStore>> Open() = 0;
  virtual absl::Status Sql(const std::string& sql) = 0;
  // SQL that stores the text expression `expr` in meta's value column.
  virtual std::string MetaValue(const std::string& expr) const = 0;
  virtual absl::StatusOr<AuditVerification> Verify(
      const AuditCheckpoint* checkpoint) = 0;
  // The rows from `from` on, in order, and the hash of row `seq`.
  virtual absl::StatusOr<std::vector<Row>> RowsFrom(std::int64_t from) = 0;
  virtual absl::StatusOr<std::string> HashOf(std::int64_t seq) = 0;
  // Writes `rows` (record, prev and hash, by seq) and meta audit_head, in
  // one transaction.
  virtual absl::Status Rewrite(const std::vector<Row>& rows,
                               const std::string& head) = 0;

  std::string Key() const { return *ReadAuditKey(KeyFile()); }
  std::string KeyFile() const { return (dir_ / "audit.key").string(); }

 protected:
  const std::filesystem::path dir_;
};

class SqliteTarget : public Target {
 public:
  using Target::Target;
  absl::StatusOr<std::unique_ptr<DurableStore>> Open() override {
    SqliteStoreOptions o;
    o.path = Path();
    auto store = SqliteStore::Open(o);
    if (!store.ok()) return store.status();
    return std::unique_ptr<DurableStore>(*std::move(store));
  }
  absl::Status Sql(const std::string& sql) override {
    auto db = sqlite::Database::Open(Path(), false, false);
    if (!db.ok()) return db.status();
    return db->Exec(sql);
  }
  std::string MetaValue(const std::string& expr) const override { return expr; }
  absl::StatusOr<AuditVerification> Verify(
      const AuditCheckpoint* checkpoint) override {
    return VerifyAudit(Path(), Key(), checkpoint);
  }
  absl::StatusOr<std::vector<Row>> RowsFrom(std::int64_t from) override {
    auto db = sqlite::Database::Open(Path(), false, false);
    if (!db.ok()) return db.status();
    auto rows = db->Prepare(
        "SELECT seq, record, prev_hash, hash FROM audit WHERE seq >= ?1 "
        "ORDER BY seq");
    if (!rows.ok()) return rows.status();
    rows->Bind(1, from);
    std::vector<Row> out;
    while (true) {
      absl::StatusOr<bool> more = rows->Step();
      if (!more.ok()) return more.status();
      if (!*more) break;
      out.push_back({rows->Int(0), std::string(rows->Blob(1)),
                     std::string(rows->Blob(2)), std::string(rows->Blob(3))});
    }
    return out;
  }
  absl::StatusOr<std::string> HashOf(std::int64_t seq) override {
    auto db = sqlite::Database::Open(Path(), false, false);
    if (!db.ok()) return db.status();
    return db->QueryText("SELECT hash FROM audit WHERE seq = " +
                         std::to_string(seq));
  }
  absl::Status Rewrite(const std::vector<Row>& rows,
                       const std::string& head) override {
    auto db = sqlite::Database::Open(Path(), false, false);
    if (!db.ok()) return db.status();
    if (absl::Status s = db->Exec("BEGIN"); !s.ok()) return s;
    auto update = db->Prepare(
        "UPDATE audit SET record = ?2, prev_hash = ?3, hash = ?4 WHERE seq = "
        "?1");
    if (!update.ok()) return update.status();
    for (const Row& r : rows) {
      update->Reset().Bind(1, r.seq).BindText(2, r.record).BindText(3, r.prev);
      update->BindText(4, r.hash);
      if (absl::Status s = update->Run(); !s.ok()) return s;
    }
    auto meta =
        db->Prepare("UPDATE meta SET value = ?1 WHERE name = 'audit_head'");
    if (!meta.ok()) return meta.status();
    meta->BindText(1, head);
    if (absl::Status s = meta->Run(); !s.ok()) return s;
    return db->Exec("COMMIT");
  }

 private:
  std::string Path() const { return (dir_ / "hijackguard.db").string(); }
};

class PostgresTarget : public Target {
 public:
  PostgresTarget(std::filesystem::path dir, testing::PgCluster* cluster)
      : Target(std::move(dir)), cluster_(cluster) {
    database_ = "tamper" + Sha256Hex(dir_.string()).substr(0, 12);
    created_ = cluster_->CreateDatabase(database_);
  }
  absl::StatusOr<std::unique_ptr<DurableStore>> Open() override {
    if (!created_.ok()) return created_;
    PostgresStoreOptions o;
    o.dsn = cluster_->Dsn(database_);
    o.password = cluster_->password();
    o.audit_key_file = KeyFile();
    auto store = PostgresStore::Open(std::move(o));
    if (!store.ok()) return store.status();
    return std::unique_ptr<DurableStore>(*std::move(store));
  }
  absl::Status Sql(const std::string& sql) override {
    auto conn = Connect();
    if (!conn.ok()) return conn.status();
    return (*conn)->Exec(sql);
  }
  std::string MetaValue(const std::string& expr) const override {
    return "convert_to(" + expr + ", 'UTF8')";
  }
  absl::StatusOr<AuditVerification> Verify(
      const AuditCheckpoint* checkpoint) override {
    auto conn = Connect();
    if (!conn.ok()) return conn.status();
    return VerifyPostgresAudit(**conn, Key(), checkpoint, nullptr);
  }
  absl::StatusOr<std::vector<Row>> RowsFrom(std::int64_t from) override {
    auto conn = Connect();
    if (!conn.ok()) return conn.status();
    auto r = (*conn)->Query(
        "SELECT seq, record, prev_hash, hash FROM audit WHERE seq >= $1 "
        "ORDER BY seq",
        pg::Params().Int(from));
    if (!r.ok()) return r.status();
    std::vector<Row> out;
    for (int i = 0; i < r->rows(); ++i) {
      out.push_back({r->Int(i, 0), std::string(r->Bytes(i, 1)),
                     std::string(r->Bytes(i, 2)), std::string(r->Bytes(i, 3))});
    }
    return out;
  }
  absl::StatusOr<std::string> HashOf(std::int64_t seq) override {
    auto conn = Connect();
    if (!conn.ok()) return conn.status();
    auto r = (*conn)->Query("SELECT hash FROM audit WHERE seq = $1",
                            pg::Params().Int(seq));
    if (!r.ok()) return r.status();
    if (r->rows() != 1) return absl::NotFoundError("no such row");
    return std::string(r->Bytes(0, 0));
  }
  absl::Status Rewrite(const std::vector<Row>& rows,
                       const std::string& head) override {
    auto conn = Connect();
    if (!conn.ok()) return conn.status();
    pg::Connection& c = **conn;
    if (absl::Status s = c.Exec("BEGIN"); !s.ok()) return s;
    for (const Row& r : rows) {
      auto done = c.Query(
          "UPDATE audit SET record = $2, prev_hash = $3, hash = $4 WHERE seq "
          "= $1",
          pg::Params().Int(r.seq).Text(r.record).Text(r.prev).Text(r.hash));
      if (!done.ok()) return done.status();
    }
    auto meta = c.Query("UPDATE meta SET value = $1 WHERE name = 'audit_head'",
                        pg::Params().Bytes(head));
    if (!meta.ok()) return meta.status();
    return c.Exec("COMMIT");
  }

 private:
  absl::StatusOr<std::unique_ptr<pg::Connection>> Connect() {
    return pg::Connection::Open(cluster_->Dsn(database_), cluster_->password());
  }

  testing::PgCluster* const cluster_;
  std::string database_;
  absl::Status created_;
};

class AuditTamperTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = ::hijackguard::testing::FreshTestDir("tamper-" + GetParam());
    if (GetParam() == "sqlite") {
      target_ = std::make_unique<SqliteTarget>(dir_);
      return;
    }
    std::string why;
    testing::PgCluster* cluster = testing::PgCluster::Shared(&why);
    ASSERT_NE(cluster, nullptr) << why;
    target_ = std::make_unique<PostgresTarget>(dir_, cluster);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // `n` audit rows, through the store.
  void Append(int from, int n) {
    auto store = target_->Open();
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

  void Sql(const std::string& sql) {
    ASSERT_THAT(target_->Sql(sql), IsOk()) << sql;
  }

  AuditVerification Verify(const AuditCheckpoint* checkpoint = nullptr) {
    auto v = target_->Verify(checkpoint);
    EXPECT_THAT(v.status(), IsOk());
    return v.ok() ? *v : AuditVerification{};
  }

  // A checkpoint of the head as it verifies now (`audit checkpoint`).
  AuditCheckpoint Checkpoint() {
    const AuditVerification v = Verify();
    EXPECT_TRUE(v.ok) << v.problem;
    return MakeCheckpoint(target_->Key(), v.last_seq, v.head_hash, absl::Now());
  }

  // Rewrites rows from `from` on so that each links to the previous one,
  // hashing with `key` ("" = plain SHA-256), and points the head at the
  // last: what a forger without the key can do.
  void Rechain(std::int64_t from, const std::string& key) {
    std::string prev = std::string(kAuditGenesis);
    if (from > 1) {
      auto hash = target_->HashOf(from - 1);
      ASSERT_THAT(hash.status(), IsOk());
      prev = *hash;
    }
    auto rows = target_->RowsFrom(from);
    ASSERT_THAT(rows.status(), IsOk());
    ASSERT_FALSE(rows->empty());
    for (Row& r : *rows) {
      const std::size_t at = r.record.find(r.prev);
      ASSERT_NE(at, std::string::npos);
      r.record.replace(at, r.prev.size(), prev);
      r.prev = prev;
      r.hash = AuditHash(key, prev, r.record);
      prev = r.hash;
    }
    const std::string head = std::to_string(rows->back().seq) + " " + prev;
    ASSERT_THAT(target_->Rewrite(*rows, head), IsOk());
  }

  std::filesystem::path dir_;
  std::unique_ptr<Target> target_;
};

TEST_P(AuditTamperTest, AnIntactLogVerifies) {
  Append(0, kRows);
  const AuditVerification v = Verify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.rows, static_cast<std::uint64_t>(kRows));
}

TEST_P(AuditTamperTest, AnEditedRowIsBroken) {
  Append(0, kRows);
  Sql("UPDATE audit SET record = replace(record, 'secops', 'mallory') WHERE "
      "seq = 120");
  const AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 120u);
}

TEST_P(AuditTamperTest, ADeletedMiddleRowIsBroken) {
  Append(0, kRows);
  Sql("DELETE FROM audit WHERE seq = 77");
  const AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 77u);
}

TEST_P(AuditTamperTest, TheLastTenRowsAndTheHeadDeletedAreBroken) {
  Append(0, kRows);
  const AuditCheckpoint checkpoint = Checkpoint();
  Sql("DELETE FROM audit WHERE seq > " + std::to_string(kRows - 10));
  Sql("DELETE FROM meta WHERE name = 'audit_head'");
  AuditVerification v = Verify(&checkpoint);
  EXPECT_FALSE(v.ok);
  EXPECT_THAT(v.problem, HasSubstr("deleted"));
  // Even without the checkpoint: the signed head is gone.
  v = Verify();
  EXPECT_FALSE(v.ok);
  // And a head rewritten to the new last row has no valid mac.
  Sql("INSERT INTO meta VALUES('audit_head', " +
      target_->MetaValue("(SELECT seq || ' ' || hash || ' 00' FROM audit "
                         "ORDER BY seq DESC LIMIT 1)") +
      ")");
  v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_THAT(v.problem, HasSubstr("forged"));
}

TEST_P(AuditTamperTest, ARowForgedAndTheChainRecomputedWithSha256IsBroken) {
  Append(0, kRows);
  Sql("UPDATE audit SET record = replace(record, 'secops', 'mallory') WHERE "
      "seq = 200");
  Rechain(200, "");
  const AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 200u);
  EXPECT_THAT(v.problem, HasSubstr("keyed hash"));
}

TEST_P(AuditTamperTest, RowsDeletedAndRenumberedAreBroken) {
  Append(0, kRows);
  const AuditCheckpoint checkpoint = Checkpoint();
  Sql("DELETE FROM audit WHERE seq BETWEEN 100 AND 200");
  Sql("UPDATE audit SET seq = seq - 101 WHERE seq > 200");
  // Each record names its own seq: renumbering alone is visible; a forger
  // rewrites the records and re-chains with SHA-256 as well.
  AuditVerification v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 100u);
  Sql("UPDATE audit SET record = replace(record, '\"seq\":' || (seq + 101) || "
      "',', '\"seq\":' || seq || ',') WHERE seq >= 100");
  Rechain(100, "");
  v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.bad_seq, 100u);
  v = Verify(&checkpoint);
  EXPECT_FALSE(v.ok);
}

TEST_P(AuditTamperTest, AForgedHeadWithTheRightChainIsStillRefusedAtStart) {
  // A forger who re-chains with a key of their own and signs nothing: the
  // store refuses to open (and extend) a log whose tail does not verify.
  Append(0, 20);
  Sql("UPDATE audit SET record = replace(record, 'secops', 'mallory') WHERE "
      "seq = 15");
  Rechain(15, "not the key");
  auto store = target_->Open();
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("audit"));
  EXPECT_FALSE(Verify().ok);
}

INSTANTIATE_TEST_SUITE_P(Stores, AuditTamperTest,
                         ::testing::Values("sqlite", "postgres"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace hijackguard::store
