#include "plugin/console/html.h"

#include <algorithm>

#include "common/strings.h"
#include "common/utf8.h"

namespace hijackguard::console {

std::string Escape(std::string_view text) {
  // Line feeds stay (they matter in <pre>); every other control character
  // is replaced.
  std::string clean;
  clean.reserve(text.size());
  for (std::size_t start = 0; start <= text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    clean += SanitizeText(text.substr(start, end - start));
    if (end < text.size()) clean += '\n';
    start = end + 1;
  }
  std::string out;
  out.reserve(clean.size() + clean.size() / 8);
  for (const char c : clean) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string LowerAscii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') ||
        (u >= '0' && u <= '9') || u == '-' || u == '.' || u == '_' ||
        u == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

std::string Badge(std::string_view kind, std::string_view value) {
  return StrCat("<span class=\"badge ", kind, "-", Escape(LowerAscii(value)),
                "\">", Escape(value), "</span>");
}

std::string Link(
    std::string_view path,
    const std::vector<std::pair<std::string, std::string>>& query) {
  std::string out(path);
  char separator = '?';
  for (const auto& [name, value] : query) {
    if (value.empty()) continue;
    out += separator;
    out += UrlEncode(name);
    out += '=';
    out += UrlEncode(value);
    separator = '&';
  }
  return out;
}

bool Viewer::MaySee(std::string_view tenant) const {
  return all_tenants ||
         std::find(tenants.begin(), tenants.end(), tenant) != tenants.end();
}

namespace {

struct NavItem {
  Section section;
  std::string_view path;
  std::string_view label;
};

constexpr NavItem kNav[] = {
    {Section::kFleet, "/ui/", "Fleet"},
    {Section::kDevices, "/ui/devices", "Devices"},
    {Section::kRepair, "/ui/repair", "Repair list"},
    {Section::kPolicy, "/ui/policy", "Policy"},
    {Section::kAlerts, "/ui/alerts", "Alerts"},
    {Section::kAudit, "/ui/audit", "Audit"},
};

}  // namespace

std::string RenderPage(const Frame& frame, std::string_view body) {
  std::string out = StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, "
      "initial-scale=1\"><title>",
      Escape(frame.title),
      " - hijackguard</title>"
      "<link rel=\"icon\" href=\"data:,\">"
      "<link rel=\"stylesheet\" href=\"/ui/assets/console.css\">"
      "<script src=\"/ui/assets/console.js\" defer></script></head><body>"
      "<header class=\"top\"><a class=\"brand\" href=\"/ui/\">hijackguard</a>");
  if (frame.viewer != nullptr) {
    out += "<nav aria-label=\"Console\"><ul>";
    for (const NavItem& item : kNav) {
      const bool current = item.section == frame.section;
      StrAppend(&out, "<li><a href=\"", item.path, "\"",
                current ? " aria-current=\"page\"" : "", ">", item.label,
                "</a></li>");
    }
    out += "</ul></nav><div class=\"who\">";
    StrAppend(&out, "<span>", Escape(frame.viewer->principal), " &middot; ",
              frame.viewer->all_tenants
                  ? std::string("every tenant")
                  : Escape(StrJoin(frame.viewer->tenants, ", ")),
              "</span>");
    if (frame.viewer->session) {
      out +=
          "<form method=\"post\" action=\"/ui/logout\"><button "
          "type=\"submit\">Sign out</button></form>";
    }
    out += "</div>";
  }
  StrAppend(&out, "</header><main><h1>", Escape(frame.title), "</h1>", body,
            "</main></body></html>\n");
  return out;
}

std::string TenantField(std::string_view tenant,
                        const std::vector<std::string>& choices,
                        std::string_view all_label) {
  if (choices.empty()) {
    return StrCat(
        "<label>Tenant <input name=\"tenant\" size=\"14\" placeholder=\"every "
        "tenant\" value=\"",
        Escape(tenant), "\"></label>");
  }
  std::string out = "<label>Tenant <select name=\"tenant\">";
  if (!all_label.empty()) {
    StrAppend(&out, "<option value=\"\"", tenant.empty() ? " selected" : "",
              ">", Escape(all_label), "</option>");
  }
  for (const std::string& t : choices) {
    StrAppend(&out, "<option value=\"", Escape(t), "\"",
              t == tenant ? " selected" : "", ">", Escape(t), "</option>");
  }
  out += "</select></label>";
  return out;
}

std::string TimeHtml(absl::Time t) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return "-";
  return StrCat("<time datetime=\"", UtcText(t), "\">", UtcText(t, false),
                "</time>");
}

std::string RenderSignIn(std::string_view message) {
  std::string out = "<div class=\"signin\">";
  if (!message.empty()) {
    StrAppend(&out, "<p class=\"error\" role=\"alert\">", Escape(message),
              "</p>");
  }
  out +=
      "<p>Sign in with your hijackguard token (a principal with the auditor "
      "or admin role). The console shows only your tenants.</p>"
      "<form method=\"post\" action=\"/ui/login\"><label "
      "for=\"token\">Token</label><input id=\"token\" name=\"token\" "
      "type=\"password\" autocomplete=\"current-password\" required>"
      "<p><button type=\"submit\">Sign in</button></p></form></div>";
  return out;
}

std::string RenderMessage(std::string_view message) {
  return StrCat("<p class=\"error\" role=\"alert\">", Escape(message),
                "</p><p><a href=\"/ui/\">Back to the fleet</a></p>");
}

}  // namespace hijackguard::console
