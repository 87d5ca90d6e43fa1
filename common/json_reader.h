// Strict reading of JSON data files (catalogs, configuration, policies).
// Include it from .cc files only: nlohmann/json must not appear in public
// headers. Every problem is collected with its JSON pointer, unknown keys are
// errors, and nothing throws past this boundary.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/json_locations.h"
#include "nlohmann/json.hpp"

namespace hijackguard::json {

// Problems found in one document, each "<json pointer>: <message>".
class Problems {
 public:
  struct Entry {
    std::string pointer;  // "" for the document as a whole
    std::string message;
  };
  void Add(std::string_view pointer, std::string_view message);
  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  const std::vector<Entry>& entries() const { return entries_; }
  // INVALID_ARGUMENT "<origin>: N problem(s):\n  <p1>\n  <p2>..." or OK when
  // empty.
  [[nodiscard]] absl::Status ToStatus(std::string_view origin) const;
  // The same with each problem located in `text`, the document they are
  // about: "<pointer> (line L, column C): <message>".
  [[nodiscard]] absl::Status ToStatus(std::string_view origin,
                                      std::string_view text) const;

 private:
  std::vector<Entry> entries_;
};

// Where a problem is: for a syntax error the line and column its message
// names, else its pointer's location in the document (`locations`, may be
// null); nullopt when neither is known.
std::optional<Location> ProblemLocation(const Problems::Entry& entry,
                                        const Locations* locations);

// Escapes `key` for use in a JSON pointer (RFC 6901: "~" -> "~0", "/" -> "~1").
std::string PointerEscape(std::string_view key);

// Parses `text` as JSON. On a syntax error returns nullopt and adds a problem
// naming line and column. A key repeated within one object keeps its last value
// (nlohmann's behaviour). Arrays and objects may nest `max_depth` deep: the
// text is scanned for that before anything is built, so that a document of
// brackets costs a scan, not a tree.
inline constexpr int kDefaultMaxJsonDepth = 64;
std::optional<nlohmann::json> ParseJson(std::string_view text,
                                        Problems* problems,
                                        int max_depth = kDefaultMaxJsonDepth);

// The byte offset of the first '[' or '{' that opens a level deeper than
// `max_depth` (outside strings), or nullopt when there is none.
std::optional<std::size_t> FirstTooDeep(std::string_view text, int max_depth);

// Reads the members of one JSON object and reports members nobody asked for.
class ObjectReader {
 public:
  // When `value` is not an object, records a problem and every getter returns
  // nullopt/nullptr.
  ObjectReader(const nlohmann::json& value, std::string pointer,
               Problems* problems);
  // Reports every member not read through a getter (or Skip) as "unknown
  // key", suggesting the nearest known key when one is close.
  ~ObjectReader();
  ObjectReader(const ObjectReader&) = delete;
  ObjectReader& operator=(const ObjectReader&) = delete;

  bool is_object() const { return object_ != nullptr; }
  const std::string& pointer() const { return pointer_; }
  std::string PointerTo(std::string_view key) const {
    return pointer_ + "/" + PointerEscape(key);
  }

  // The member, or nullptr when absent (a problem when `required`).
  const nlohmann::json* Member(std::string_view key, bool required);
  // A string member. Absent: nullopt (problem if required). Wrong type or
  // empty: problem.
  std::optional<std::string> String(std::string_view key, bool required);
  // An array member. Absent: nullptr (problem if required). Wrong type:
  // problem, nullptr.
  const nlohmann::json* Array(std::string_view key, bool required);
  // Positive integer member within [min, max].
  std::optional<long long> Integer(std::string_view key, bool required,
                                   long long min, long long max);
  // A number member within [min, max].
  std::optional<double> Number(std::string_view key, bool required, double min,
                               double max);
  // The member even when it is null (nullptr only when absent).
  const nlohmann::json* MemberOrNull(std::string_view key);
  // Marks a key as known without reading it.
  void Skip(std::string_view key);

 private:
  const nlohmann::json* object_ = nullptr;
  std::string pointer_;
  Problems* problems_;
  std::vector<std::string> seen_;
};

}  // namespace hijackguard::json
