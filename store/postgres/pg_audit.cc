// Verifying the PostgreSQL store's audit log: one REPEATABLE READ snapshot
// on a connection of its own (replicas keep appending meanwhile), its rows
// read through a cursor a few thousand at a time.
#include "common/status_macros.h"
#include "common/strings.h"
#include "store/audit_verify.h"
#include "store/postgres/pg_store.h"
#include "store/store_time.h"

namespace hijackguard::store {

namespace {

class PgAuditSource final : public AuditSource {
 public:
  explicit PgAuditSource(pg::Connection& conn) : conn_(conn) {}
  absl::StatusOr<std::string> Meta(std::string_view name) override {
    ASSIGN_OR_RETURN(pg::Result r,
                     conn_.Query("SELECT value FROM meta WHERE name = $1",
                                 pg::Params().Text(name)));
    return r.rows() == 0 ? std::string() : std::string(r.Bytes(0, 0));
  }
  // The PostgreSQL store's chain is keyed from its first row.
  absl::StatusOr<std::uint64_t> RekeySeq() override { return 0; }
  absl::Status Rows(
      const std::function<bool(const AuditChainRow&)>& row) override {
    RETURN_IF_ERROR(conn_.Exec(
        "DECLARE audit_rows NO SCROLL CURSOR FOR SELECT seq, at_us, kind, "
        "record, prev_hash, hash FROM audit ORDER BY seq"));
    while (true) {
      ASSIGN_OR_RETURN(pg::Result r,
                       conn_.Query("FETCH FORWARD 5000 FROM audit_rows"));
      if (r.rows() == 0) return absl::OkStatus();
      for (int i = 0; i < r.rows(); ++i) {
        const AuditChainRow chain{static_cast<std::uint64_t>(r.Int(i, 0)),
                                  r.Int(i, 1),
                                  std::string(r.Bytes(i, 2)),
                                  std::string(r.Bytes(i, 3)),
                                  std::string(r.Bytes(i, 4)),
                                  std::string(r.Bytes(i, 5))};
        if (!row(chain)) return absl::OkStatus();
      }
    }
  }

 private:
  pg::Connection& conn_;
};

}  // namespace

absl::StatusOr<AuditVerification> VerifyPostgresAudit(
    pg::Connection& conn, std::string_view key,
    const AuditCheckpoint* checkpoint, const std::atomic<bool>* cancel) {
  RETURN_IF_ERROR(
      conn.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"));
  PgAuditSource source(conn);
  absl::StatusOr<AuditVerification> v =
      VerifyAuditChain(source, key, checkpoint, cancel);
  (void)conn.Exec("ROLLBACK");
  return v;
}

absl::StatusOr<std::uint64_t> ExportPostgresAudit(
    pg::Connection& conn, absl::Time since, std::ostream& out,
    const Pseudonymizer* pseudonymize) {
  RETURN_IF_ERROR(
      conn.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"));
  auto rows = [&]() -> absl::StatusOr<std::uint64_t> {
    RETURN_IF_ERROR(conn.Query("DECLARE audit_export NO SCROLL CURSOR FOR "
                               "SELECT record, hash FROM audit WHERE at_us "
                               ">= $1 ORDER BY seq",
                               pg::Params().Int(ToUs(since)))
                        .status());
    std::uint64_t n = 0;
    while (true) {
      ASSIGN_OR_RETURN(pg::Result r,
                       conn.Query("FETCH FORWARD 5000 FROM audit_export"));
      if (r.rows() == 0) break;
      for (int i = 0; i < r.rows(); ++i) {
        if (WriteAuditLine(r.Bytes(i, 0), r.Bytes(i, 1), pseudonymize, out)) {
          ++n;
        }
      }
    }
    out.flush();
    if (!out) return absl::InternalError("writing the export failed");
    return n;
  };
  absl::StatusOr<std::uint64_t> n = rows();
  (void)conn.Exec("ROLLBACK");
  return n;
}

absl::StatusOr<AuditVerification> PostgresStore::VerifyAuditLog(
    const AuditCheckpoint* checkpoint, const std::atomic<bool>* cancel) {
  ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> conn, Connect());
  return VerifyPostgresAudit(*conn, audit_key_, checkpoint, cancel);
}

}  // namespace hijackguard::store
