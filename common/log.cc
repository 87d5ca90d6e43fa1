#include "common/log.h"

#include <atomic>
#include <cstdio>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/strings.h"

namespace hijackguard {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_format{static_cast<int>(LogFormat::kText)};

std::string_view LineLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
  }
  return "?";
}

// JSON string contents: quotes, backslashes and control characters escaped
// (the text is UTF-8 already; callers quote what a client sent).
void AppendJsonString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '\r') {
      out->append("\\r");
    } else if (c == '\t') {
      out->append("\\t");
    } else if (u < 0x20 || u == 0x7F) {
      out->append("\\u00");
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 0xF]);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

// A text field's value: bare when it is one plain word, else quoted as JSON
// quotes it (so that a line stays one line and splits unambiguously).
void AppendTextValue(std::string_view s, std::string* out) {
  bool plain = !s.empty();
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || u < 0x20 ||
        u == 0x7F) {
      plain = false;
      break;
    }
  }
  if (plain) {
    out->append(s);
  } else {
    AppendJsonString(s, out);
  }
}

// The message of a text line stays on one line.
void AppendTextMessage(std::string_view s, std::string* out) {
  for (char c : s) {
    out->push_back(c == '\n' || c == '\r' ? ' ' : c);
  }
}

}  // namespace

std::optional<LogLevel> ParseLogLevel(std::string_view name) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning,
                     LogLevel::kError}) {
    if (LogLevelName(l) == name) return l;
  }
  return std::nullopt;
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

void SetLogLevel(LogLevel level) { g_min_level.store(static_cast<int>(level)); }

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed);
}

void SetLogFormat(LogFormat format) {
  g_format.store(static_cast<int>(format));
}

std::string FormatLogLine(LogFormat format, std::string_view time,
                          LogLevel level, std::string_view message,
                          std::initializer_list<LogField> fields) {
  std::string line;
  line.reserve(64 + message.size());
  if (format == LogFormat::kJson) {
    line += "{\"time\":";
    AppendJsonString(time, &line);
    line += ",\"level\":";
    AppendJsonString(LineLevelName(level), &line);
    line += ",\"msg\":";
    AppendJsonString(message, &line);
    for (const LogField& f : fields) {
      if (f.value.empty()) continue;
      line.push_back(',');
      AppendJsonString(f.key, &line);
      line.push_back(':');
      AppendJsonString(f.value, &line);
    }
    line.push_back('}');
    return line;
  }
  StrAppend(&line, time, " ", LineLevelName(level), " ");
  AppendTextMessage(message, &line);
  for (const LogField& f : fields) {
    if (f.value.empty()) continue;
    StrAppend(&line, " ", f.key, "=");
    AppendTextValue(f.value, &line);
  }
  return line;
}

void Log(LogLevel level, std::string_view message,
         std::initializer_list<LogField> fields) {
  if (!LogEnabled(level)) {
    return;
  }
  std::string line = FormatLogLine(
      static_cast<LogFormat>(g_format.load(std::memory_order_relaxed)),
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                       absl::UTCTimeZone()),
      level, message, fields);
  line.push_back('\n');
  // One fwrite per line: stdio locks the stream, so lines from threads do not
  // interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace hijackguard
