#include "store/audit_walker.h"

#include <algorithm>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "common/hmac.h"
#include "common/strings.h"
#include "nlohmann/json.hpp"
#include "store/audit_log.h"

namespace hijackguard::store {

AuditChainWalker::AuditChainWalker(std::string key, std::uint64_t rekey_seq,
                                   std::uint64_t first_seq, std::string prev)
    : key_(std::move(key)),
      rekey_seq_(rekey_seq),
      expected_(first_seq),
      prev_(std::move(prev)) {}

bool AuditChainWalker::Fail(std::uint64_t seq, std::string problem) {
  bad_seq_ = seq;
  problem_ = std::move(problem);
  return false;
}

bool AuditChainWalker::Add(const AuditChainRow& row) {
  if (!ok()) {
    return false;
  }
  const std::uint64_t seq = row.seq;
  if (seq != expected_) {
    return Fail(
        expected_,
        seq > expected_
            ? StrCat("row ", expected_, " is missing: rows ", expected_, "..",
                     seq - 1, " were deleted (the next row is ", seq, ")")
            : StrCat("row ", seq, " is out of sequence"));
  }
  const nlohmann::json j = nlohmann::json::parse(row.record, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Fail(seq,
                StrCat("row ", seq, " was altered: its record is not JSON"));
  }
  const bool keyed = rekey_seq_ == 0 || seq >= rekey_seq_;
  if (!ConstantTimeEquals(
          AuditHash(keyed ? std::string_view(key_) : std::string_view(),
                    row.prev_hash, row.record),
          row.hash)) {
    return Fail(
        seq,
        StrCat("row ", seq, " was altered: its record does not match its ",
               keyed ? "keyed hash (HMAC-SHA256 with the audit key)" : "hash"));
  }
  const std::string at =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromUnixMicros(row.at_us),
                       absl::UTCTimeZone());
  auto field = [&](const char* name) -> std::string {
    auto it = j.find(name);
    if (it == j.end()) return std::string();
    if (it->is_string()) return it->get<std::string>();
    if (it->is_number_unsigned()) {
      return std::to_string(it->get<std::uint64_t>());
    }
    return "?";  // a value of another type never matches
  };
  if (field("seq") != std::to_string(seq) || field("kind") != row.kind ||
      field("at") != at || field("prev_hash") != row.prev_hash) {
    return Fail(seq, StrCat("row ", seq,
                            " was altered: its seq, at, kind or prev_hash "
                            "column disagrees with its record"));
  }
  if (row.prev_hash != prev_) {
    if (seq == 1) {
      return Fail(1, "row 1 was altered: it does not start the chain");
    }
    return Fail(
        seq - 1,
        StrCat("the chain breaks between rows ", seq - 1, " and ", seq,
               ": row ", seq, " links to ", row.prev_hash.substr(0, 16),
               "..., row ", seq - 1, " hashes to ", prev_.substr(0, 16),
               "... (row ", seq - 1, " was altered and re-hashed, or row ", seq,
               " was inserted)"));
  }
  prev_ = row.hash;
  ++rows_;
  ++expected_;
  return true;
}

bool AuditChainWalker::CheckHead(std::string_view recorded, bool legacy_ok) {
  if (!ok()) {
    return false;
  }
  const std::uint64_t last = last_seq();
  if (recorded.empty()) {
    if (last == 0) {
      return true;
    }
    return Fail(last, StrCat("the recorded head of the chain is missing but "
                             "the log has rows up to ",
                             last, " (it was deleted)"));
  }
  std::vector<std::string> parts;
  for (std::size_t i = 0; i <= recorded.size();) {
    const std::size_t space = std::min(recorded.find(' ', i), recorded.size());
    parts.emplace_back(recorded.substr(i, space - i));
    i = space + 1;
  }
  std::uint64_t head_seq = 0;
  if ((parts.size() != 3 && !(legacy_ok && parts.size() == 2)) ||
      !absl::SimpleAtoi(parts[0], &head_seq)) {
    return Fail(last + 1, "the recorded head of the chain is damaged");
  }
  const std::string& head_hash = parts[1];
  if (parts.size() == 3 &&
      !ConstantTimeEquals(parts[2], AuditHeadMac(key_, head_seq, head_hash))) {
    return Fail(last + 1,
                "the recorded head of the chain was forged (its mac does not "
                "match the audit key)");
  }
  if (head_seq > last) {
    return Fail(last + 1,
                StrCat("rows ", last + 1, "..", head_seq,
                       " were deleted from the end (the recorded head is row ",
                       head_seq, ")"));
  }
  if (head_seq < last) {
    return Fail(head_seq + 1, StrCat("row ", head_seq + 1,
                                     " was inserted after the recorded head"));
  }
  if (head_hash != prev_) {
    return Fail(last, StrCat("row ", last,
                             " was altered and re-hashed: the recorded head "
                             "has another hash"));
  }
  return true;
}

}  // namespace hijackguard::store
