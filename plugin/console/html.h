// What every console page is made of (docs/console.md): escaping for HTML
// text and attributes, links with query strings, and the frame around each
// page (header, navigation, the signed-in principal, the main landmark).
// Pages are built as strings on the server; nothing in them runs script
// except the console's own file (script-src 'self').
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace hijackguard::console {

// `text` for HTML content or a quoted attribute value: & < > " ' escaped,
// ill-formed UTF-8 and control characters but line feeds replaced by U+FFFD.
std::string Escape(std::string_view text);

// `text` with A-Z as a-z (CSS class names from action and level names).
std::string LowerAscii(std::string_view text);

// A badge for an action or a level: <span class="badge action-quarantine">
// QUARANTINE</span> for ("action", "QUARANTINE").
std::string Badge(std::string_view kind, std::string_view value);

// `text` percent-encoded for a URL's query (every byte but A-Z a-z 0-9 - . _
// ~).
std::string UrlEncode(std::string_view text);

// "/ui/devices?tenant=acme&level=HIGH": a path and its parameters, each
// name and value encoded; parameters with an empty value are left out.
std::string Link(std::string_view path,
                 const std::vector<std::pair<std::string, std::string>>& query);

// Who is looking, as pages need it: the principal, and the tenants it may
// see (all of them, or these).
struct Viewer {
  std::string principal;  // "anonymous" in development mode
  bool all_tenants = false;
  std::vector<std::string> tenants;
  // Signed in with a session cookie (so a "Sign out" button is shown), not
  // a client certificate or development mode.
  bool session = false;
  bool MaySee(std::string_view tenant) const;
};

enum class Section {
  kFleet,
  kDevices,
  kRepair,
  kPolicy,
  kAlerts,
  kAudit,
  kNone
};

struct Frame {
  std::string title;  // the page's h1 and, with " - hijackguard", its title
  Section section = Section::kNone;
  const Viewer* viewer = nullptr;  // null on the sign-in page
};

// The whole document: doctype, head (the stylesheet and script from
// /ui/assets/), the header with the navigation, and `body` inside <main>.
std::string RenderPage(const Frame& frame, std::string_view body);

// A form's "Tenant" field: a text field for a viewer of every tenant (empty
// for all), else a choice of `choices`, with a first choice for all of them
// labelled `all_label` unless that is empty.
std::string TenantField(std::string_view tenant,
                        const std::vector<std::string>& choices,
                        std::string_view all_label);

// "2026-12-04 11:39 UTC" in a <time> element with its RFC 3339 value; "-"
// for an infinite time (never).
std::string TimeHtml(absl::Time t);

// The sign-in page's body: a token field, and `message` (why the last try
// failed, or why the viewer must sign in) when not empty.
std::string RenderSignIn(std::string_view message);

// A page's body that says only `message` (not found, not allowed).
std::string RenderMessage(std::string_view message);

}  // namespace hijackguard::console
