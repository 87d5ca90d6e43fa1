// Where each value of a JSON document is: JSON pointer -> line and column.
// nlohmann/json keeps no positions, so validators that report pointers use
// this to add "line L, column C" to each problem.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace hijackguard::json {

struct Location {
  int line = 0;    // 1-based
  int column = 0;  // 1-based, in characters (UTF-8 sequences count as one)
};

class Locations {
 public:
  // Scans `text`, which must be syntactically valid JSON (parse it first);
  // on invalid text the map is partial. Object members are located at their
  // key, array elements and the root at their value.
  static Locations Scan(std::string_view text);

  // The location of `pointer`, or else of its nearest ancestor that has one.
  std::optional<Location> Find(std::string_view pointer) const;

  // The first value nested deeper than `limit` (the root's members are at
  // depth 1; depths are tracked up to 513).
  std::optional<std::pair<std::string, Location>> FirstDeeperThan(
      int limit) const;

  // Members whose key appeared earlier in the same object (nlohmann keeps
  // the last value silently): the pointer, and where the repeat is.
  const std::vector<std::pair<std::string, Location>>& duplicate_keys() const {
    return duplicates_;
  }

 private:
  class Scanner;
  absl::flat_hash_map<std::string, Location> map_;
  std::vector<std::pair<std::string, Location>> duplicates_;
  // The first value at each depth, up to the scanner's limit.
  std::vector<std::pair<std::string, Location>> first_at_depth_;
};

}  // namespace hijackguard::json
