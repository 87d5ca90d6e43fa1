#include "common/json_reader.h"

#include <algorithm>
#include <cstdio>

#include "common/strings.h"
#include "common/utf8.h"

namespace hijackguard::json {

void Problems::Add(std::string_view pointer, std::string_view message) {
  // A message may quote a value from the document: never all of a long one.
  entries_.push_back({std::string(pointer), TruncateUtf8(message, 512)});
}

absl::Status Problems::ToStatus(std::string_view origin) const {
  return ToStatus(origin, std::string_view());
}

absl::Status Problems::ToStatus(std::string_view origin,
                                std::string_view text) const {
  if (entries_.empty()) {
    return absl::OkStatus();
  }
  std::optional<Locations> locations;
  if (!text.empty()) {
    locations = Locations::Scan(text);
  }
  // In the document's order when located; unlocated ones first.
  std::vector<std::pair<Location, std::string>> located;
  located.reserve(entries_.size());
  for (const Entry& e : entries_) {
    // A pointer repeats keys the document chose: at most 256 bytes shown.
    std::string line =
        e.pointer.empty() ? std::string("/") : TruncateUtf8(e.pointer, 256);
    Location where;
    if (!text.empty()) {
      if (const auto at =
              ProblemLocation(e, locations ? &*locations : nullptr)) {
        where = *at;
        StrAppend(&line, " (line ", at->line, ", column ", at->column, ")");
      }
    }
    StrAppend(&line, ": ", e.message);
    located.emplace_back(where, std::move(line));
  }
  std::stable_sort(located.begin(), located.end(),
                   [](const auto& a, const auto& b) {
                     return std::pair(a.first.line, a.first.column) <
                            std::pair(b.first.line, b.first.column);
                   });
  std::vector<std::string> lines;
  lines.reserve(located.size());
  for (auto& [where, line] : located) {
    lines.push_back(std::move(line));
  }
  return absl::InvalidArgumentError(StrCat(
      origin, ": ", lines.size(), lines.size() == 1 ? " problem" : " problems",
      ":\n  ", StrJoin(lines, "\n  ")));
}

std::optional<Location> ProblemLocation(const Problems::Entry& entry,
                                        const Locations* locations) {
  // Syntax errors name their position in the message (the scan of a text
  // that does not parse is partial).
  if (const std::size_t at = entry.message.find(" at line ");
      entry.pointer.empty() && at != std::string::npos) {
    Location location;
    if (std::sscanf(entry.message.c_str() + at, " at line %d, column %d",
                    &location.line, &location.column) == 2) {
      return location;
    }
  }
  if (locations != nullptr) {
    return locations->Find(entry.pointer);
  }
  return std::nullopt;
}

std::string PointerEscape(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

namespace {

// nlohmann's message without its "[json.exception.x.n] ... : " prefix.
std::string Reason(const char* what) {
  const std::string_view text(what);
  const std::size_t colon = text.find(": ");
  return std::string(colon == std::string_view::npos ? text
                                                     : text.substr(colon + 2));
}

}  // namespace

std::optional<std::size_t> FirstTooDeep(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) {
          return i;
        }
        break;
      case ']':
      case '}':
        --depth;  // a mismatch is the parser's to report
        break;
      default:
        break;
    }
  }
  return std::nullopt;
}

std::optional<nlohmann::json> ParseJson(std::string_view text,
                                        Problems* problems, int max_depth) {
  if (const std::optional<std::size_t> deep = FirstTooDeep(text, max_depth)) {
    problems->Add("", StrCat("nested more than ", max_depth, " levels deep at ",
                             LineColumn(text, *deep), " (byte ", *deep, ")"));
    return std::nullopt;
  }
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is the 1-based offset just past the offending character.
    const std::size_t offset = e.byte == 0 ? 0 : e.byte - 1;
    problems->Add("", StrCat("JSON syntax error at ", LineColumn(text, offset),
                             ": ", Reason(e.what())));
  } catch (const nlohmann::json::exception& e) {
    // A number too large for a double ("1e999") raises out_of_range, without
    // a position; find the number the message quotes.
    const std::string what = e.what();
    std::string where = "unknown position";
    const std::size_t open = what.find("parsing '");
    const std::size_t close = what.rfind('\'');
    if (open != std::string::npos && close > open + 9) {
      const std::string number = what.substr(open + 9, close - open - 9);
      if (const std::size_t at = text.find(number);
          at != std::string_view::npos) {
        where = LineColumn(text, at);
      }
    }
    problems->Add(
        "", StrCat("JSON value out of range at ", where, ": ",
                   TruncateUtf8(SanitizeText(Reason(what.c_str())), 120)));
  }
  return std::nullopt;
}

ObjectReader::ObjectReader(const nlohmann::json& value, std::string pointer,
                           Problems* problems)
    : pointer_(std::move(pointer)), problems_(problems) {
  if (value.is_object()) {
    object_ = &value;
  } else {
    problems_->Add(pointer_,
                   StrCat("must be an object, not ", value.type_name()));
  }
}

ObjectReader::~ObjectReader() {
  if (object_ == nullptr) {
    return;
  }
  for (const auto& [key, unused] : object_->items()) {
    if (std::find(seen_.begin(), seen_.end(), key) != seen_.end()) {
      continue;
    }
    const std::string* nearest = Nearest(key, seen_);
    std::string message = "unknown key";
    if (nearest != nullptr) {
      StrAppend(&message, "; did you mean \"", *nearest, "\"?");
    } else if (!seen_.empty() && seen_.size() <= 8) {
      std::vector<std::string> known;
      for (const std::string& k : seen_) {
        if (k != "$comment") {
          known.push_back(StrCat("\"", k, "\""));
        }
      }
      StrAppend(&message, "; known keys here: ", StrJoin(known, ", "));
    }
    problems_->Add(PointerTo(key), message);
  }
}

const nlohmann::json* ObjectReader::MemberOrNull(std::string_view key) {
  seen_.emplace_back(key);
  if (object_ == nullptr) {
    return nullptr;
  }
  const auto it = object_->find(key);
  return it == object_->end() ? nullptr : &*it;
}

std::optional<double> ObjectReader::Number(std::string_view key, bool required,
                                           double min, double max) {
  const nlohmann::json* v = Member(key, required);
  if (v == nullptr) {
    return std::nullopt;
  }
  if (!v->is_number()) {
    problems_->Add(PointerTo(key),
                   StrCat("must be a number, not ", v->type_name()));
    return std::nullopt;
  }
  const double n = v->get<double>();
  if (!(n >= min && n <= max)) {
    problems_->Add(PointerTo(key),
                   StrCat("must be between ", min, " and ", max));
    return std::nullopt;
  }
  return n;
}

const nlohmann::json* ObjectReader::Member(std::string_view key,
                                           bool required) {
  seen_.emplace_back(key);
  if (object_ == nullptr) {
    return nullptr;
  }
  const auto it = object_->find(key);
  if (it == object_->end() || it->is_null()) {
    if (required) {
      problems_->Add(PointerTo(key), "is required");
    }
    return nullptr;
  }
  return &*it;
}

std::optional<std::string> ObjectReader::String(std::string_view key,
                                                bool required) {
  const nlohmann::json* v = Member(key, required);
  if (v == nullptr) {
    return std::nullopt;
  }
  if (!v->is_string()) {
    problems_->Add(PointerTo(key),
                   StrCat("must be a string, not ", v->type_name()));
    return std::nullopt;
  }
  std::string s = v->get<std::string>();
  if (s.empty()) {
    problems_->Add(PointerTo(key), "must not be empty");
    return std::nullopt;
  }
  return s;
}

const nlohmann::json* ObjectReader::Array(std::string_view key, bool required) {
  const nlohmann::json* v = Member(key, required);
  if (v != nullptr && !v->is_array()) {
    problems_->Add(PointerTo(key),
                   StrCat("must be an array, not ", v->type_name()));
    return nullptr;
  }
  return v;
}

std::optional<long long> ObjectReader::Integer(std::string_view key,
                                               bool required, long long min,
                                               long long max) {
  const nlohmann::json* v = Member(key, required);
  if (v == nullptr) {
    return std::nullopt;
  }
  if (!v->is_number_integer()) {
    problems_->Add(PointerTo(key),
                   v->is_number()
                       ? StrCat("must be a whole number, not ", v->dump())
                       : StrCat("must be an integer, not ", v->type_name()));
    return std::nullopt;
  }
  const long long n = v->get<long long>();
  if (n < min || n > max) {
    problems_->Add(PointerTo(key),
                   StrCat("must be between ", min, " and ", max));
    return std::nullopt;
  }
  return n;
}

void ObjectReader::Skip(std::string_view key) { seen_.emplace_back(key); }

}  // namespace hijackguard::json
