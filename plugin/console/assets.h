// The console's stylesheet and script, compiled into the binary and served
// from /ui/assets/ (nothing is loaded from anywhere else).
#pragma once

#include <optional>
#include <string_view>

namespace hijackguard::console {

struct Asset {
  std::string_view content_type;
  std::string_view body;
};

// The asset at `name` ("console.css", "console.js"), if there is one.
std::optional<Asset> FindAsset(std::string_view name);

}  // namespace hijackguard::console
