#include "store/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <filesystem>
#include <limits>
#include <variant>

#include "absl/strings/numbers.h"
#include "common/file.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "store/audit_key.h"
#include "store/audit_log.h"
#include "store/sqlite/audit_chain.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_store_internal.h"

namespace hijackguard::store {

using sqlite::Database;
using sqlite::Statement;

namespace {

constexpr int kReaders = 4;
constexpr int kListReaders = 2;

}  // namespace

// ---------------------------------------------------------------------------
// Opening and closing

namespace {
SqliteStoreOptions WithDefaults(SqliteStoreOptions o) {
  if (o.audit_key_file.empty()) {
    o.audit_key_file = DefaultAuditKeyPath(
        std::filesystem::path(o.path).parent_path().string());
  }
  return o;
}
}  // namespace

SqliteStore::SqliteStore(SqliteStoreOptions options)
    : options_(WithDefaults(std::move(options))) {}

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(
    SqliteStoreOptions options) {
  std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(options)));
  RETURN_IF_ERROR(store->Start());
  return store;
}

absl::Status SqliteStore::Start() {
  // Personal data: the database and its WAL are the owner's alone, whatever
  // the umask was when they were made.
  for (const char* suffix : {"", "-wal", "-shm"}) {
    RETURN_IF_ERROR(MakePrivate(StrCat(options_.path, suffix)));
  }
  ASSIGN_OR_RETURN(
      Database db,
      sqlite::OpenState(
          options_.path,
          {.synchronous = options_.synchronous,
           .quick_check_max_bytes = options_.quick_check_max_bytes,
           .wal_autocheckpoint_pages = options_.wal_autocheckpoint_pages,
           .journal_size_limit_bytes = options_.journal_size_limit_bytes}));
  for (const char* suffix : {"", "-wal", "-shm"}) {
    RETURN_IF_ERROR(MakePrivate(StrCat(options_.path, suffix)));
  }
  ASSIGN_OR_RETURN(writer_, ConnectStatements(std::move(db), true));
  RETURN_IF_ERROR(OpenAudit());
  for (int i = 0; i < kReaders; ++i) {
    ASSIGN_OR_RETURN(Database reader,
                     Database::Open(options_.path, false, false));
    RETURN_IF_ERROR(reader.Exec("PRAGMA query_only=1"));
    ASSIGN_OR_RETURN(auto connection,
                     ConnectStatements(std::move(reader), false));
    absl::MutexLock lock(&readers_mu_);
    readers_.push_back(std::move(connection));
  }
  for (int i = 0; i < kListReaders; ++i) {
    ASSIGN_OR_RETURN(Database reader,
                     Database::Open(options_.path, false, false));
    RETURN_IF_ERROR(reader.Exec("PRAGMA query_only=1"));
    absl::MutexLock lock(&list_mu_);
    list_readers_.push_back(std::move(reader));
  }
  {
    // Rows of schema 4 and before have no listing until their next decision.
    ASSIGN_OR_RETURN(std::int64_t unlisted,
                     writer_->db.QueryInt(
                         "SELECT count(*) FROM history WHERE score IS NULL"));
    if (unlisted > 0) {
      LogInfo(StrCat("state: ", unlisted,
                     " devices decided by an earlier version are not in the "
                     "device list until their next decision"));
    }
  }
  {
    absl::MutexLock lock(&committed_mu_);
    durable_audit_seq_ = audit_seq_;
    durable_audit_head_ = audit_head_;
  }
  queue_ = std::make_unique<CommitQueue>(
      CommitQueueOptions{.max_batch = options_.max_batch,
                         .max_queued = options_.max_queued,
                         .on_health_change = options_.on_health_change,
                         .on_commit = options_.on_commit},
      [this](const Batch& batch) { return Commit(batch); });
  return absl::OkStatus();
}

absl::Status SqliteStore::OpenAudit() {
  // The table's last row and the head recorded with the last append.
  std::uint64_t tail_seq = 0;
  std::string tail_hash(kAuditGenesis);
  {
    ASSIGN_OR_RETURN(Statement tail,
                     writer_->db.Prepare("SELECT seq, hash FROM audit ORDER BY "
                                         "seq DESC LIMIT 1"));
    ASSIGN_OR_RETURN(bool row, tail.Step());
    if (row) {
      tail_seq = static_cast<std::uint64_t>(tail.Int(0));
      tail_hash = std::string(tail.Blob(1));
    }
  }
  ASSIGN_OR_RETURN(std::string head,
                   writer_->db.QueryText(
                       "SELECT value FROM meta WHERE name = 'audit_head'"));
  ASSIGN_OR_RETURN(std::string rekey,
                   writer_->db.QueryText(
                       "SELECT value FROM meta WHERE name = 'audit_rekey'"));
  std::uint64_t head_seq = 0;
  std::string head_hash;
  {
    const std::size_t space = head.find(' ');
    if (space != std::string::npos &&
        absl::SimpleAtoi(head.substr(0, space), &head_seq)) {
      head_hash = head.substr(space + 1, head.find(' ', space + 1) - space - 1);
    }
  }
  // A log from before the key (schema 2, rekey pending) has no key yet: one
  // is made for it, first as <key>.pending, moved into place only once the
  // rekey row is committed (a crash in between reuses it). The marker is
  // believed only while no key exists: with a key, the log is keyed and the
  // marker was written by someone else. Otherwise a log with rows needs the
  // key that made it.
  const std::string& key_file = options_.audit_key_file;
  const bool key_exists = !absl::IsNotFound(ReadAuditKey(key_file).status());
  const bool pending_rekey = !rekey.empty() && tail_seq > 0 && !key_exists;
  if (!key_exists && rekey.empty()) {
    ASSIGN_OR_RETURN(std::uint64_t rekeyed_at, FirstRekeySeq(writer_->db));
    if (rekeyed_at > 0) {
      RETURN_IF_ERROR(PromotePendingAuditKey(key_file));  // OK if none
    }
  }
  ASSIGN_OR_RETURN(
      audit_key_,
      pending_rekey
          ? LoadOrCreateAuditKey(PendingAuditKeyPath(key_file), 0)
          : LoadOrCreateAuditKey(key_file, std::max(tail_seq, head_seq)));
  audit_seq_ = tail_seq;
  audit_head_ = tail_hash;

  // The tail must verify: its rows, their links and the signed head.
  ASSIGN_OR_RETURN(std::string problem, CheckAuditTail(head, pending_rekey));
  if (!problem.empty()) {
    if (!options_.accept_broken_audit) {
      return absl::FailedPreconditionError(StrCat(
          "state database ", options_.path,
          ": the audit log is broken: ", problem,
          ". Run hijackguard audit verify and restore a backup; or start with "
          "--accept-broken-audit to continue the log after the damage (that "
          "start is recorded in the log)"));
    }
    LogError(StrCat("state database ", options_.path,
                    ": the audit log is broken (", problem,
                    "); continuing because of --accept-broken-audit"));
    if (head_seq > tail_seq) {
      // Rows cut from the end: continue after the recorded head, so that
      // the gap stays visible to audit verify.
      audit_seq_ = head_seq;
      audit_head_ = head_hash;
    }
  }
  if (pending_rekey) {
    // A store from before the key: the first keyed row links the unkeyed
    // chain's head, and every row after it is keyed.
    const absl::Time now = options_.clock->Now();
    RETURN_IF_ERROR(AppendNow(
        MakeRekeyRow(audit_seq_ + 1, now, audit_head_, audit_key_), now));
    RETURN_IF_ERROR(PromotePendingAuditKey(key_file));
    LogInfo(StrCat("state database ", options_.path,
                   ": the audit log is keyed from row ", audit_seq_,
                   " on (rows before it keep their SHA-256 chain)"));
  }
  if (!problem.empty()) {
    policy::AuditRecord record;
    record.at = options_.clock->Now();
    record.what = policy::AcceptBrokenAudit{problem};
    RETURN_IF_ERROR(
        AppendNow(MakeAuditRow(audit_seq_ + 1, record, audit_head_, audit_key_),
                  record.at));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SqliteStore::CheckAuditTail(
    std::string_view recorded_head, bool pending_rekey) {
  constexpr int kTailRows = 1000;
  ASSIGN_OR_RETURN(std::uint64_t rekey_seq, FirstRekeySeq(writer_->db));
  if (pending_rekey) {
    rekey_seq = std::numeric_limits<std::uint64_t>::max();  // none keyed yet
  }
  ASSIGN_OR_RETURN(Statement rows,
                   writer_->db.Prepare(StrCat("SELECT ", kAuditRowColumns,
                                              " FROM (SELECT * FROM "
                                              "audit ORDER BY seq DESC LIMIT ",
                                              kTailRows, ") ORDER BY seq")));
  std::optional<AuditChainWalker> walker;
  while (true) {
    ASSIGN_OR_RETURN(bool more, rows.Step());
    if (!more) break;
    const AuditChainRow row = ReadAuditRow(rows);
    if (!walker) {
      // The tail's first row is trusted to link to what came before it
      // (audit verify walks the whole chain).
      walker.emplace(audit_key_, static_cast<std::uint64_t>(rekey_seq), row.seq,
                     row.prev_hash);
    }
    if (!walker->Add(row)) break;
  }
  if (!walker) {
    walker.emplace(audit_key_, 0, 1, std::string(kAuditGenesis));
  }
  walker->CheckHead(recorded_head, pending_rekey);
  return walker->problem();
}

absl::Status SqliteStore::AppendNow(const AuditRow& row, absl::Time at) {
  Database& db = writer_->db;
  RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  absl::Status status = InsertAudit(row, at);
  if (status.ok()) {
    status = writer_->at(kPutMeta)
                 .Reset()
                 .BindText(1, "audit_head")
                 .Bind(2, HeadValue())
                 .Run();
  }
  if (status.ok()) {
    status = db.Exec("DELETE FROM meta WHERE name = 'audit_rekey'");
  }
  if (status.ok()) {
    status = db.Exec("COMMIT");
  }
  if (!status.ok()) {
    (void)db.Exec("ROLLBACK");
  }
  committed_audit_rows_ = 0;
  return status;
}

std::pair<std::uint64_t, std::string> SqliteStore::audit_head() const {
  absl::MutexLock lock(&committed_mu_);
  return {durable_audit_seq_, durable_audit_head_};
}

std::string SqliteStore::HeadValue() const {
  return StrCat(audit_seq_, " ", audit_head_, " ",
                AuditHeadMac(audit_key_, audit_seq_, audit_head_));
}

SqliteStore::~SqliteStore() {
  // Before the writer's connection goes.
  if (queue_ != nullptr) {
    queue_->Close();
  }
}

}  // namespace hijackguard::store
