// tests/policy/broken/expected.txt: one line per broken policy,
// "<file> /a /b c/d" (the file, then the JSON pointers of its problems in
// order; a pointer starts with '/' and may hold spaces); '#' lines and blank
// lines are skipped.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace hijackguard::testing {

struct BrokenPolicy {
  std::filesystem::path file;  // in the corpus directory
  std::vector<std::string> pointers;
};

inline std::filesystem::path BrokenCorpusDir() {
  return std::filesystem::path(HIJACKGUARD_SOURCE_DIR) / "tests/policy/broken";
}

// Empty when expected.txt cannot be read or a line has no pointer.
inline std::vector<BrokenPolicy> ReadBrokenCorpus() {
  std::ifstream expected(BrokenCorpusDir() / "expected.txt");
  std::vector<BrokenPolicy> out;
  std::string line;
  while (std::getline(expected, line)) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    const std::size_t space = line.find(' ');
    if (space == std::string::npos) {
      return {};
    }
    BrokenPolicy& p = out.emplace_back();
    p.file = BrokenCorpusDir() / line.substr(0, space);
    for (std::size_t at = space + 1; at < line.size();) {
      std::size_t next = line.find(" /", at);
      if (next == std::string::npos) next = line.size();
      p.pointers.push_back(line.substr(at, next - at));
      at = next + 1;
    }
  }
  return out;
}

}  // namespace hijackguard::testing
