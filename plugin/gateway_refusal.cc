#include "plugin/gateway_refusal.h"

#include <cstdint>
#include <optional>

#include "common/strings.h"
#include "detector/wbxml/code_pages.h"
#include "detector/wbxml/encoder.h"

namespace hijackguard::plugin {
namespace {

namespace eas = detector::eas;

// The response root of each command that has one, and its code page (by
// namespace). MeetingResponse's schema has Status only inside Result, but
// Exchange writes it under the root for a blocked device all the same.
struct Root {
  eas::Command command;
  std::string_view xml_namespace;
};
constexpr Root kRoots[] = {
    {eas::Command::kSync, "AirSync"},
    {eas::Command::kFolderSync, "FolderHierarchy"},
    {eas::Command::kFolderCreate, "FolderHierarchy"},
    {eas::Command::kFolderDelete, "FolderHierarchy"},
    {eas::Command::kFolderUpdate, "FolderHierarchy"},
    {eas::Command::kGetItemEstimate, "GetItemEstimate"},
    {eas::Command::kMeetingResponse, "MeetingResponse"},
    {eas::Command::kMoveItems, "Move"},
    {eas::Command::kPing, "Ping"},
    {eas::Command::kProvision, "Provision"},
    {eas::Command::kSearch, "Search"},
    {eas::Command::kSettings, "Settings"},
    {eas::Command::kSendMail, "ComposeMail"},
    {eas::Command::kSmartForward, "ComposeMail"},
    {eas::Command::kSmartReply, "ComposeMail"},
    {eas::Command::kItemOperations, "ItemOperations"},
    {eas::Command::kResolveRecipients, "ResolveRecipients"},
    {eas::Command::kValidateCert, "ValidateCert"},
    {eas::Command::kFind, "Find"},
};

const Root* RootOf(eas::Command command) {
  for (const Root& r : kRoots) {
    if (r.command == command) return &r;
  }
  return nullptr;
}

// "14.1" -> 14; 0 when unknown.
int Major(std::string_view version) {
  int major = 0;
  for (char c : version) {
    if (c == '.') break;
    if (c < '0' || c > '9') return 0;
    major = major * 10 + (c - '0');
  }
  return major;
}

std::optional<std::string> Body(const Root& root) {
  using namespace detector::wbxml;
  const CodePage* page = FindCodePageByNamespace(root.xml_namespace);
  if (page == nullptr) return std::nullopt;
  const auto tag = FindTag(page->number, eas::CommandName(root.command));
  const auto status = FindTag(page->number, "Status");
  if (!tag || !status) return std::nullopt;
  std::string out;
  Encoder e(&out);
  e.Start(page->number, *tag, true);
  e.Start(page->number, *status, true);
  if (!e.Text(StrCat(kBlockedStatus)).ok() || !e.End().ok() || !e.End().ok() ||
      !e.Finish().ok()) {
    return std::nullopt;
  }
  return out;
}

}  // namespace

std::string_view RefusalPage(eas::Command command,
                             std::string_view protocol_version) {
  // Status 129 exists from protocol 14.0; an unknown version is taken to be
  // a current client (iOS sends the header on every command).
  const int major = Major(protocol_version);
  if ((major != 0 && major < 14) || RootOf(command) == nullptr) {
    return "http403";
  }
  return eas::CommandName(command);
}

std::vector<RefusalBody> RefusalBodies() {
  std::vector<RefusalBody> out;
  for (const Root& r : kRoots) {
    if (auto body = Body(r)) {
      out.push_back({std::string(eas::CommandName(r.command)), *body});
    }
  }
  return out;
}

}  // namespace hijackguard::plugin
