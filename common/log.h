// A small thread-safe logger writing one line per event to stderr, as text or
// as JSON (`logging.format`). The server logs start-up, shutdown,
// configuration problems, refusals, decisions that changed and detection
// events; fields carry what a line is about (decision id, tenant,
// pseudonymized device and user, principal, trace id). Callers never pass a
// secret, a token or a client's Authorization header.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace hijackguard {

enum class LogLevel { kDebug, kInfo, kWarning, kError };
enum class LogFormat { kText, kJson };

// "debug", "info", "warn", "error" <-> LogLevel.
std::optional<LogLevel> ParseLogLevel(std::string_view name);
std::string_view LogLevelName(LogLevel level);

// Sets the lowest level written (default kInfo). Thread-safe.
void SetLogLevel(LogLevel level);
// Whether a line at `level` would be written (to skip building it).
bool LogEnabled(LogLevel level);
// Text (default) or JSON lines. Thread-safe.
void SetLogFormat(LogFormat format);

// One named value of a line. Empty values are left out.
struct LogField {
  std::string_view key;
  std::string_view value;
};

// Writes one line to stderr. Text: "<RFC 3339 UTC time> <LEVEL> <message>"
// then " key=value" per field (quoted when the value has a space, a quote or
// '='; control characters escaped). JSON: {"time":..., "level":...,
// "msg":..., "<key>":"<value>"...}, one object per line. Thread-safe.
void Log(LogLevel level, std::string_view message,
         std::initializer_list<LogField> fields = {});

inline void LogInfo(std::string_view message) { Log(LogLevel::kInfo, message); }
inline void LogWarning(std::string_view message) {
  Log(LogLevel::kWarning, message);
}
inline void LogError(std::string_view message) {
  Log(LogLevel::kError, message);
}

// The line Log would write (without its newline), for tests.
std::string FormatLogLine(LogFormat format, std::string_view time,
                          LogLevel level, std::string_view message,
                          std::initializer_list<LogField> fields);

}  // namespace hijackguard
