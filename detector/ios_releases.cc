#include "detector/ios_releases.h"

#include <algorithm>
#include <array>
#include <vector>

namespace hijackguard::detector {
namespace {

// Sources per row are in activesync.md §4.2 (H = Horde VERSION_MAP, J =
// jailbreak header, P = p0sixspwn list, W = Wikipedia, T = Horde DeviceTest).
// Builds in parentheses there are listed here as separate rows of the same
// version.
constexpr std::array kReleases = {
    IosRelease{"8A293", "4.0", ""},
    IosRelease{"8A306", "4.0.1", ""},
    IosRelease{"8A400", "4.0.2", ""},
    IosRelease{"8B117", "4.1", ""},
    IosRelease{"8B118", "4.1", ""},
    IosRelease{"8C148", "4.2.1", ""},
    IosRelease{"8C148a", "4.2.1", ""},
    IosRelease{"8E128", "4.2.5", "CDMA iPhone 4 line"},
    IosRelease{"8E200", "4.2.6", "CDMA iPhone 4 line"},
    IosRelease{"8E303", "4.2.7", "CDMA iPhone 4 line"},
    IosRelease{"8E401", "4.2.8", "CDMA iPhone 4 line"},
    IosRelease{"8E501", "4.2.9", "CDMA iPhone 4 line"},
    IosRelease{"8E600", "4.2.10", "CDMA iPhone 4 line"},
    IosRelease{"8F190", "4.3", ""},
    IosRelease{"8F191", "4.3", ""},
    IosRelease{"8G4", "4.3.1", ""},
    IosRelease{"8H7", "4.3.2", ""},
    IosRelease{"8H8", "4.3.2", ""},
    IosRelease{"8J2", "4.3.3", ""},
    IosRelease{"8J3", "4.3.3", ""},
    IosRelease{"8K2", "4.3.4", ""},
    IosRelease{"8L1", "4.3.5", ""},
    IosRelease{"9A334", "5.0", ""},
    IosRelease{"9A405", "5.0.1", ""},
    IosRelease{"9A406", "5.0.1", ""},
    IosRelease{"9B176", "5.1", ""},
    IosRelease{"9B179", "5.1", ""},
    IosRelease{"9B206", "5.1.1", ""},
    IosRelease{"9B208", "5.1.1", ""},
    IosRelease{"10A403", "6.0", ""},
    IosRelease{"10A405", "6.0", "iPhone 5 launch build"},
    IosRelease{"10A406", "6.0", "iPhone 5 launch build"},
    IosRelease{"10A407", "6.0", "iPhone 5 launch build"},
    IosRelease{"10A523", "6.0.1", ""},
    IosRelease{"10A525", "6.0.1", ""},
    IosRelease{"10A8426", "6.0.1", "iPhone 5 carrier build"},
    IosRelease{"10A550", "6.0.2", "iPhone 5 and iPad mini only"},
    IosRelease{"10A551", "6.0.2", "iPhone 5 and iPad mini only"},
    IosRelease{"10A8500", "6.0.2", "iPhone 5 carrier build"},
    IosRelease{"10B141", "6.1", ""},
    IosRelease{"10B142", "6.1", ""},
    IosRelease{"10B143", "6.1", ""},
    IosRelease{"10B144", "6.1", ""},
    IosRelease{"10B145", "6.1.1", "iPhone 4S only"},
    IosRelease{"10B146", "6.1.2", ""},
    IosRelease{"10B147", "6.1.2", ""},
    IosRelease{"10B329", "6.1.3", ""},
    IosRelease{"10B329a", "6.1.3", ""},
    IosRelease{"10B350", "6.1.4", "iPhone 5 only"},
    IosRelease{"10B400", "6.1.5", "iPod touch 4 only"},
    IosRelease{"10B500", "6.1.6", "iPhone 3GS and iPod touch 4"},
    IosRelease{"11A465", "7.0", ""},
    IosRelease{"11A466", "7.0", ""},
    IosRelease{"11A470a", "7.0.1", ""},
    IosRelease{"11A501", "7.0.2", ""},
    IosRelease{"11B511", "7.0.3", ""},
    IosRelease{"11B554a", "7.0.4", ""},
    IosRelease{"11B601", "7.0.5", ""},
    IosRelease{"11B651", "7.0.6", ""},
    IosRelease{"11D167", "7.1", ""},
    IosRelease{"11D169", "7.1", ""},
    IosRelease{"11D201", "7.1.1", ""},
    IosRelease{"11D257", "7.1.2", ""},
    // A later build pinned by a primary capture (Apple developer forum thread
    // 99522: "iOS 11.2.6 15D100" with User-Agent Apple-iPhone8C4/1504.100).
    IosRelease{"15D100", "11.2.6", ""},
};

struct ByBuild {
  bool operator()(const IosRelease* a, const IosRelease* b) const {
    return a->build < b->build;
  }
  bool operator()(const IosRelease* a, std::string_view b) const {
    return a->build < b;
  }
};

const std::vector<const IosRelease*>& SortedIndex() {
  static const std::vector<const IosRelease*>* const kIndex = [] {
    auto* v = new std::vector<const IosRelease*>();
    for (const IosRelease& r : kReleases) {
      v->push_back(&r);
    }
    std::sort(v->begin(), v->end(), ByBuild());
    return v;
  }();
  return *kIndex;
}

}  // namespace

std::span<const IosRelease> AllIosReleases() { return kReleases; }

const IosRelease* FindIosRelease(std::string_view build) {
  const auto& index = SortedIndex();
  auto it = std::lower_bound(index.begin(), index.end(), build, ByBuild());
  if (it != index.end() && (*it)->build == build) {
    return *it;
  }
  return nullptr;
}

}  // namespace hijackguard::detector
