#include "store/audit_verify.h"

#include "common/status_macros.h"
#include "common/strings.h"
#include "nlohmann/json.hpp"

namespace hijackguard::store {

namespace {

// Replaces the user principal of a decision and the address of a user
// exemption (in its value and its id "<tenant>/user/<address>").
void PseudonymizeRecord(const Pseudonymizer& pseudonym, nlohmann::json& j) {
  auto replace = [&](const char* field) {
    auto it = j.find(field);
    if (it != j.end() && it->is_string() && !it->get<std::string>().empty()) {
      *it = pseudonym(it->get<std::string>());
    }
  };
  replace("user_principal");
  auto id = j.find("exemption_id");
  if (id == j.end() || !id->is_string()) {
    return;
  }
  const std::string text = id->get<std::string>();
  const std::size_t user = text.find("/user/");
  if (user != std::string::npos) {
    *id = StrCat(text.substr(0, user), "/user/",
                 pseudonym(text.substr(user + 6)));
    replace("value");
  }
}

}  // namespace

bool WriteAuditLine(std::string_view record, std::string_view hash,
                    const Pseudonymizer* pseudonymize, std::ostream& out) {
  if (record.size() < 2 || record.back() != '}') return false;
  std::string rewritten;
  if (pseudonymize != nullptr) {
    nlohmann::json j = nlohmann::json::parse(record, nullptr, false);
    if (!j.is_object()) return false;
    // The canonical record's hash no longer matches; the line says so.
    PseudonymizeRecord(*pseudonymize, j);
    j["pseudonymized"] = true;
    rewritten =
        j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    record = rewritten;
  }
  record.remove_suffix(1);
  out << record << ",\"hash\":\"" << hash << "\"}\n";
  return true;
}

absl::StatusOr<AuditVerification> VerifyAuditChain(
    AuditSource& source, std::string_view key,
    const AuditCheckpoint* checkpoint, const std::atomic<bool>* cancel) {
  ASSIGN_OR_RETURN(std::uint64_t rekey_seq, source.RekeySeq());
  // Retention may have deleted the oldest rows: the signed anchor names the
  // last one, and the chain starts after it.
  ASSIGN_OR_RETURN(std::string anchor, source.Meta("audit_anchor"));
  absl::StatusOr<AuditAnchor> from = ParseAuditAnchor(anchor, key);
  if (!from.ok()) {
    AuditVerification broken;
    broken.ok = false;
    broken.bad_seq = 1;
    broken.problem = std::string(from.status().message());
    return broken;
  }
  const std::uint64_t anchor_seq = from->seq;
  const std::string& anchor_hash = from->hash;
  AuditChainWalker walker(std::string(key), rekey_seq, anchor_seq + 1,
                          anchor_hash);
  AuditVerification v;
  v.pruned_through = anchor_seq;
  std::string checkpoint_row_hash;
  bool cancelled = false;
  RETURN_IF_ERROR(source.Rows([&](const AuditChainRow& row) {
    if (cancel != nullptr && row.seq % 4096 == 0 && cancel->load()) {
      cancelled = true;
      return false;
    }
    if (!walker.Add(row)) return false;
    if (checkpoint != nullptr && row.seq == checkpoint->seq) {
      checkpoint_row_hash = row.hash;
    }
    return true;
  }));
  if (cancelled) {
    return absl::CancelledError("the audit verification was stopped");
  }
  if (walker.ok()) {
    ASSIGN_OR_RETURN(std::string head, source.Meta("audit_head"));
    walker.CheckHead(head, false);
  }
  v.rows = walker.rows();
  v.first_seq = walker.rows() > 0 ? anchor_seq + 1 : 0;
  v.last_seq = walker.last_seq();
  v.ok = walker.ok();
  v.bad_seq = walker.bad_seq();
  v.problem = walker.problem();
  if (v.ok && checkpoint != nullptr && checkpoint->seq > 0) {
    if (checkpoint->seq <= anchor_seq) {
      // Its rows were pruned: the anchor, signed with the same key, is what
      // links the rows kept to them.
      if (checkpoint->seq == anchor_seq && checkpoint->head != anchor_hash) {
        v.ok = false;
        v.bad_seq = anchor_seq;
        v.problem = StrCat("the prune anchor is not the row the checkpoint of ",
                           FormatUtc(checkpoint->at), " signed");
      } else {
        v.after_checkpoint = v.last_seq - checkpoint->seq;
      }
    } else if (checkpoint->seq > v.last_seq) {
      v.ok = false;
      v.bad_seq = v.last_seq + 1;
      v.problem = StrCat("rows ", v.last_seq + 1, "..", checkpoint->seq,
                         " were deleted: the checkpoint of ",
                         FormatUtc(checkpoint->at), " covers rows up to ",
                         checkpoint->seq, ", the log ends at row ", v.last_seq);
    } else if (checkpoint_row_hash != checkpoint->head) {
      v.ok = false;
      v.bad_seq = checkpoint->seq;
      v.problem = StrCat(
          "row ", checkpoint->seq, " is not the row the checkpoint of ",
          FormatUtc(checkpoint->at), " signed: the log up to it was rewritten");
    } else {
      v.after_checkpoint = v.last_seq - checkpoint->seq;
    }
  }
  v.head_hash = v.ok ? walker.head() : "";
  return v;
}

}  // namespace hijackguard::store
