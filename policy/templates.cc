#include "policy/templates.h"

#include <algorithm>

#include "common/strings.h"
#include "common/utf8.h"

namespace hijackguard::policy {

std::string_view AlertKindKey(AlertKind kind) {
  switch (kind) {
    case AlertKind::kWarn:
      return "warn";
    case AlertKind::kWarnCalendar:
      return "warn_calendar";
    case AlertKind::kQuarantine:
      return "quarantine";
    case AlertKind::kQuarantineCalendar:
      return "quarantine_calendar";
    case AlertKind::kBlock:
      return "block";
  }
  return "warn";
}

namespace {

std::string_view ValueOf(std::string_view name, const AlertValues& v) {
  if (name == "device_name") return v.device_name;
  if (name == "os_version") return v.os_version;
  if (name == "fixed_in") return v.fixed_in;
  if (name == "deadline") return v.deadline;
  if (name == "user") return v.user;
  return v.admin_insert;
}

bool IsPlaceholder(std::string_view name) {
  return std::find(kPlaceholders.begin(), kPlaceholders.end(), name) !=
         kPlaceholders.end();
}

}  // namespace

std::string RenderTemplate(std::string_view text, const AlertValues& values) {
  std::string out;
  out.reserve(text.size() + 64);
  RenderTemplateTo(text, values, &out);
  return out;
}

void RenderTemplateTo(std::string_view text, const AlertValues& values,
                      std::string* out_ptr) {
  std::string& out = *out_ptr;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t open = text.find('{', i);
    if (open == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    out.append(text.substr(i, open - i));
    const std::size_t close = text.find('}', open + 1);
    const std::string_view name = close == std::string_view::npos
                                      ? std::string_view()
                                      : text.substr(open + 1, close - open - 1);
    if (close != std::string_view::npos && IsPlaceholder(name)) {
      out.append(ValueOf(name, values));
      i = close + 1;
    } else {
      out.push_back('{');
      i = open + 1;
    }
  }
}

std::vector<std::string> CheckTemplate(std::string_view text) {
  std::vector<std::string> problems;
  // 1-based character (not byte) positions, as an editor counts.
  auto at = [&](std::size_t byte) {
    return CountUtf8Chars(text.substr(0, byte)) + 1;
  };
  if (const std::size_t open = text.find("{{");
      open != std::string_view::npos) {
    problems.push_back(
        StrCat("'{{' at character ", at(open),
               ": placeholders take single braces, e.g. {user}; braces cannot "
               "appear in the text otherwise"));
    return problems;
  }
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t open = text.find_first_of("{}", i);
    if (open == std::string_view::npos) {
      break;
    }
    if (text[open] == '}') {
      problems.push_back(
          StrCat("'}' at character ", at(open), " closes nothing"));
      i = open + 1;
      continue;
    }
    const std::size_t close = text.find_first_of("{}", open + 1);
    if (close == std::string_view::npos || text[close] == '{') {
      problems.push_back(
          StrCat("'{' at character ", at(open), " is not closed"));
      i = open + 1;
      continue;
    }
    const std::string_view name = text.substr(open + 1, close - open - 1);
    if (!IsPlaceholder(name)) {
      problems.push_back(
          StrCat("unknown placeholder {", name, "} at character ", at(open),
                 "; known: {device_name}, {os_version}, {fixed_in}, "
                 "{deadline}, {user}, {admin_insert}"));
    }
    i = close + 1;
  }
  return problems;
}

std::vector<std::pair<std::string, LocaleTemplates>> BuiltinTemplates() {
  std::vector<std::pair<std::string, LocaleTemplates>> out;
  for (const BuiltinLocale& b : BuiltinLocales()) {
    LocaleTemplates t;
    t.latest_release = b.latest_release;
    t.deadline_notice = b.deadline_notice;
    for (std::size_t k = 0; k < kAlertKindCount; ++k) {
      t.kinds[k] = {b.kinds[k].title, b.kinds[k].message,
                    b.kinds[k].remediation};
    }
    out.emplace_back(b.locale, std::move(t));
  }
  return out;
}

std::string NormalizeLocale(std::string_view locale) {
  std::string out(locale);
  for (char& c : out) {
    if (c == '_') {
      c = '-';
    } else if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

}  // namespace hijackguard::policy
