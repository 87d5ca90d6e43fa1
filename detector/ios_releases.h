// The iOS release catalog: which marketing version each build is, for iOS 4.0
// through 7.1.2 plus the few later builds our sources pin down. Facts from
// ../shared/docs/activesync.md §4.2 (Horde's VERSION_MAP, jailbreak and
// p0sixspwn build lists, Wikipedia, KB 2814847, TidBITS).
#pragma once

#include <span>
#include <string_view>

namespace hijackguard::detector {

struct IosRelease {
  std::string_view build;    // Apple build, exact: "10A403", "11A470a"
  std::string_view version;  // marketing version: "6.0"
  std::string_view note;     // scope or provenance worth showing, or ""
};

// Every catalogued build, grouped by version in release order. The data is
// static.
std::span<const IosRelease> AllIosReleases();

// Returns the release with exactly this build (case-sensitive, as Apple writes
// builds), or nullptr when the build is not catalogued. Thread-safe; O(log n).
const IosRelease* FindIosRelease(std::string_view build);

}  // namespace hijackguard::detector
