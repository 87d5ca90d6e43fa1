// Fuzz target: the fingerprint parsers (User-Agent, DeviceOS, builds, versions,
// model codes, inventory) on arbitrary bytes. The input is split on 0x1F into
// the nine FingerprintInput fields. Besides not crashing, the target checks
// that every string of the result is valid UTF-8 and that parsed builds
// round-trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "common/utf8.h"
#include "detector/fingerprint.h"
#include "detector/ios_build.h"
#include "detector/known_issues.h"
#include "detector/user_agent.h"
#include "detector/version.h"
#include "tests/common/builtin_catalog.h"

namespace {

using namespace hijackguard;            // NOLINT: test brevity
using namespace hijackguard::detector;  // NOLINT

void Require(bool condition) {
  if (!condition) {
    std::abort();
  }
}

void RequireUtf8(const std::string& s) { Require(IsValidUtf8(s)); }

const KnownIssueCatalog& Catalog() {
  return *hijackguard::testing::BuiltinCatalog();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> f;
  std::size_t start = 0;
  while (f.size() < 8) {
    const std::size_t sep = input.find('\x1f', start);
    if (sep == std::string_view::npos) {
      break;
    }
    f.push_back(input.substr(start, sep - start));
    start = sep + 1;
  }
  f.push_back(input.substr(start));
  f.resize(9);

  const Fingerprint fp = ComputeFingerprint({.user_agent = f[0],
                                             .device_type = f[1],
                                             .device_os = f[2],
                                             .device_model = f[3],
                                             .protocol_version = f[4],
                                             .inventory_product_name = f[5],
                                             .inventory_os_version = f[6],
                                             .inventory_build_version = f[7],
                                             .inventory_model_name = f[8]});
  for (const std::string* s :
       {&fp.client_family, &fp.client_version, &fp.raw_user_agent,
        &fp.eas_build, &fp.model_code, &fp.model_name, &fp.protocol_version}) {
    RequireUtf8(*s);
  }
  for (const std::string& n : fp.notes) {
    RequireUtf8(n);
  }
  for (const Disagreement& d : fp.disagreements) {
    Require(d.values.size() >= 2);
    for (const SourcedValue& v : d.values) {
      RequireUtf8(v.value);
    }
  }
  for (const KnownIssueMatch& m : Catalog().Match(fp)) {
    RequireUtf8(m.matched_by);
  }

  // Round trips of whatever parses.
  if (auto b = ParseIosBuild(f[0]); b.ok()) {
    Require(*ParseIosBuild(b->ToString()) == *b);
    Require(*ParseExchangeBuild(b->ToExchangeBuild()) == *b);
  }
  if (auto b = ParseExchangeBuild(f[0]); b.ok()) {
    Require(*ParseExchangeBuild(b->ToExchangeBuild()) == *b);
    Require(*ParseIosBuild(b->ToString()) == *b);
  }
  if (auto v = Version::Parse(f[0]); v.ok()) {
    Require(*Version::Parse(v->ToString()) == *v);
  }
  const UserAgentInfo ua = ParseUserAgent(input);
  for (const std::string& p : ua.problems) {
    RequireUtf8(p);
  }
  return 0;
}
