// A small thread-safe logger writing one line per message to stderr. The server
// logs start-up, shutdown and configuration problems; it does not log per
// request.
#pragma once

#include <string_view>

namespace hijackguard {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Sets the lowest level written (default kInfo). Thread-safe.
void SetLogLevel(LogLevel level);

// Writes "<RFC 3339 UTC time> <LEVEL> <message>" to stderr. Thread-safe.
void Log(LogLevel level, std::string_view message);

inline void LogInfo(std::string_view message) { Log(LogLevel::kInfo, message); }
inline void LogWarning(std::string_view message) {
  Log(LogLevel::kWarning, message);
}
inline void LogError(std::string_view message) {
  Log(LogLevel::kError, message);
}

}  // namespace hijackguard
