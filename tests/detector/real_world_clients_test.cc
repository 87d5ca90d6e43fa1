// Real clients as other projects and vendors recorded them
// (tests/detector/testdata/real_world_clients.tsv): what each fingerprints to.
// Columns, tab-separated: kind (user_agent or device_os), the string, then
// what the fingerprint must say: build, os major version, os train, model
// name, device family, client family (an empty cell: must be empty or
// unknown), and the source the string was taken from.
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "detector/fingerprint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hijackguard::detector {
namespace {

struct Row {
  int line = 0;
  std::string kind, text, build, major, train, model_name, family, client,
      source;
};

std::vector<Row> ReadRows() {
  std::ifstream in(std::filesystem::path(HIJACKGUARD_SOURCE_DIR) /
                   "tests/detector/testdata/real_world_clients.tsv");
  std::vector<Row> rows;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cells;
    for (std::size_t at = 0;;) {
      const std::size_t tab = line.find('\t', at);
      cells.push_back(line.substr(at, tab - at));
      if (tab == std::string::npos) break;
      at = tab + 1;
    }
    if (cells.size() != 9) {
      ADD_FAILURE() << "line " << n << ": " << cells.size()
                    << " cells, not 9: " << line;
      continue;
    }
    rows.push_back({n, cells[0], cells[1], cells[2], cells[3], cells[4],
                    cells[5], cells[6], cells[7], cells[8]});
  }
  return rows;
}

TEST(RealWorldClientsTest, EachFingerprintsAsRecorded) {
  const std::vector<Row> rows = ReadRows();
  std::set<int> majors;
  int ipad_os = 0;
  for (const Row& r : rows) {
    SCOPED_TRACE("line " + std::to_string(r.line) + ": " + r.text);
    ASSERT_TRUE(r.kind == "user_agent" || r.kind == "device_os") << r.kind;
    EXPECT_FALSE(r.source.empty());
    FingerprintInput in;
    (r.kind == "user_agent" ? in.user_agent : in.device_os) = r.text;
    const Fingerprint fp = ComputeFingerprint(in);
    EXPECT_EQ(fp.build ? fp.build->ToString() : "", r.build);
    // As the API says it: 0 is unknown.
    EXPECT_EQ(fp.os_major_version.value_or(0) > 0
                  ? std::to_string(*fp.os_major_version)
                  : "",
              r.major);
    EXPECT_EQ(fp.os_train, r.train);
    EXPECT_EQ(fp.model_name, r.model_name);
    EXPECT_EQ(AppleDeviceFamilyName(fp.device_family), r.family);
    EXPECT_EQ(fp.client_family, r.client);
    if (fp.os_major_version && fp.platform == Platform::kIos) {
      majors.insert(*fp.os_major_version);
    }
    // iPadOS: an iPad on train 17 (iPadOS 13) or later.
    ipad_os += fp.device_family == AppleDeviceFamily::kIpad && fp.build &&
                       fp.build->train >= 17
                   ? 1
                   : 0;
  }
  EXPECT_GE(rows.size(), 60u);
  // iOS 4 to 26, iPadOS, and more than Apple's clients.
  EXPECT_TRUE(majors.contains(4) && majors.contains(26));
  EXPECT_GE(majors.size(), 12u);
  EXPECT_GE(ipad_os, 1);
}

}  // namespace
}  // namespace hijackguard::detector
