// Walks rows of an audit log in order and says where the chain breaks
// (docs/state.md, "Audit log"): what every store's `audit verify` and its
// check of the log's tail at start share. Reading the rows is each store's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hijackguard::store {

struct AuditChainRow {
  std::uint64_t seq = 0;
  std::int64_t at_us = 0;
  std::string kind;
  std::string record;
  std::string prev_hash;
  std::string hash;
};

class AuditChainWalker {
 public:
  // `key`: the audit key. Rows before `rekey_seq` (the first "rekey" row; 0
  // when there is none) are plain SHA-256, the rest keyed. The walk starts
  // at row `first_seq`, which must link to `prev` (the genesis for row 1).
  AuditChainWalker(std::string key, std::uint64_t rekey_seq,
                   std::uint64_t first_seq, std::string prev);

  // False once the chain is broken (then problem() and bad_seq() say where).
  bool Add(const AuditChainRow& row);
  // After the last row: checks the recorded head ("seq hash mac"; "" when
  // none was recorded). `legacy_ok` accepts an unsigned "seq hash" head (a
  // schema-2 store not yet rekeyed).
  bool CheckHead(std::string_view recorded, bool legacy_ok);

  bool ok() const { return problem_.empty(); }
  const std::string& problem() const { return problem_; }
  std::uint64_t bad_seq() const { return bad_seq_; }
  std::uint64_t rows() const { return rows_; }
  std::uint64_t last_seq() const { return expected_ - 1; }
  const std::string& head() const { return prev_; }

 private:
  bool Fail(std::uint64_t seq, std::string problem);

  const std::string key_;
  const std::uint64_t rekey_seq_;
  std::uint64_t expected_;
  std::string prev_;
  std::uint64_t rows_ = 0;
  std::string problem_;
  std::uint64_t bad_seq_ = 0;
};

}  // namespace hijackguard::store
