// End-user alert templates: the texts hijackguard ships (builtin_templates.cc)
// and their rendering.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace hijackguard::policy {

// Which alert a decision shows. WARN and QUARANTINE each have a variant for
// the `restrict: calendar` scope.
enum class AlertKind {
  kWarn,
  kWarnCalendar,
  kQuarantine,
  kQuarantineCalendar,
  kBlock,
};
inline constexpr std::size_t kAlertKindCount = 5;

// The key of each kind in a policy document: "warn", "warn_calendar",
// "quarantine", "quarantine_calendar", "block".
std::string_view AlertKindKey(AlertKind kind);

struct AlertTemplate {
  std::string title;
  std::string message;
  std::string remediation;
};

// One locale's texts.
struct LocaleTemplates {
  std::string latest_release;   // {fixed_in} when no fixed release is known
  std::string deadline_notice;  // appended to the message while a grace runs
  std::array<AlertTemplate, kAlertKindCount> kinds;
};

// The placeholders a template may use.
inline constexpr std::array<std::string_view, 6> kPlaceholders = {
    "device_name", "os_version", "fixed_in",
    "deadline",    "user",       "admin_insert"};

// Values for the placeholders; empty ones render as empty text.
struct AlertValues {
  std::string_view device_name;
  std::string_view os_version;
  std::string_view fixed_in;
  std::string_view deadline;
  std::string_view user;
  std::string_view admin_insert;
};

// Replaces each "{name}" in `text` by its value. Text that is not a known
// placeholder is copied as it is (validation rejects it in policies).
std::string RenderTemplate(std::string_view text, const AlertValues& values);
// The same, appended to `*out`.
void RenderTemplateTo(std::string_view text, const AlertValues& values,
                      std::string* out);

// The placeholder names `text` uses that are not in kPlaceholders, and
// unbalanced braces, as messages ("unknown placeholder {devce_name}").
std::vector<std::string> CheckTemplate(std::string_view text);

// The shipped texts, as written in builtin_templates.cc.
struct BuiltinTemplate {
  const char* title;
  const char* message;
  const char* remediation;
};
struct BuiltinLocale {
  const char* locale;
  const char* latest_release;
  const char* deadline_notice;
  std::array<BuiltinTemplate, kAlertKindCount> kinds;
};
const std::vector<BuiltinLocale>& BuiltinLocales();

// BuiltinLocales() as LocaleTemplates, keyed by locale.
std::vector<std::pair<std::string, LocaleTemplates>> BuiltinTemplates();

// The language a check-in asks for, normalized to lower case with '-':
// "de_DE" -> "de-de". Empty stays empty.
std::string NormalizeLocale(std::string_view locale);

}  // namespace hijackguard::policy
