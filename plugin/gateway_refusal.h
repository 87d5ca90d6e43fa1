// What a refused ActiveSync client receives from the gateway (docs/gateway.md
// "What the phone sees"): what Exchange answers a blocked device. For
// protocol 14.0 and later, HTTP 200 with the command's root element holding
// Status 129 (DeviceIsBlockedForThisUser, MS-ASCMD's common status codes);
// for 12.1 and older, and for commands without a WBXML response
// (GetAttachment, the legacy plain-text commands), HTTP 403 with no body.
// The generated nginx configuration serves these pages from files.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "detector/eas/request.h"

namespace hijackguard::plugin {

// DeviceIsBlockedForThisUser.
inline constexpr int kBlockedStatus = 129;
// The page for the refused request: the command's name ("Sync") or "http403".
std::string_view RefusalPage(detector::eas::Command command,
                             std::string_view protocol_version);

struct RefusalBody {
  std::string page;  // RefusalPage's name; also the file name
  std::string wbxml;
};
// Every WBXML page (not "http403"), with its body.
std::vector<RefusalBody> RefusalBodies();

}  // namespace hijackguard::plugin
