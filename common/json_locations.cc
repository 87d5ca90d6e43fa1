#include "common/json_locations.h"

#include "absl/container/flat_hash_set.h"
#include "common/json_reader.h"
#include "common/strings.h"

namespace hijackguard::json {

class Locations::Scanner {
 public:
  Scanner(std::string_view text, Locations* out) : text_(text), out_(out) {}

  void Value(const std::string& pointer, int depth) {
    SkipSpace();
    if (pos_ >= text_.size() || depth > kMaxDepth) {
      return;
    }
    if (static_cast<std::size_t>(depth) > out_->first_at_depth_.size()) {
      out_->first_at_depth_.emplace_back(pointer, Here());
    }
    const char c = text_[pos_];
    if (c == '{') {
      Object(pointer, depth);
    } else if (c == '[') {
      Array(pointer, depth);
    } else if (c == '"') {
      String(nullptr);
    } else {
      while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '}' &&
             text_[pos_] != ']' && !IsSpace(text_[pos_])) {
        Advance();
      }
    }
  }

  Location Here() const { return {line_, column_}; }
  void SkipSpace() {
    while (pos_ < text_.size() && IsSpace(text_[pos_])) {
      Advance();
    }
  }

 private:
  static constexpr int kMaxDepth = 512;
  // Pointers are stored whole; past this many bytes of them the map stops
  // growing (Find then answers with the nearest stored ancestor), so a wide
  // document with long keys cannot exhaust memory.
  static constexpr std::size_t kMaxPointerBytes = 16 << 20;

  // Longer pointers are neither stored nor extended (building each child's
  // pointer would copy the long prefix once per child).
  static constexpr std::size_t kMaxPointerLength = 4096;

  bool Record(const std::string& pointer) {
    if (pointer.size() > kMaxPointerLength ||
        stored_bytes_ + pointer.size() > kMaxPointerBytes) {
      return false;
    }
    stored_bytes_ += pointer.size();
    return true;
  }

  static bool IsSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
  }

  void Advance() {
    const unsigned char c = static_cast<unsigned char>(text_[pos_++]);
    if (c == '\n') {
      ++line_;
      column_ = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++column_;  // continuation bytes belong to a character counted already
    }
  }

  // Reads a string token; its decoded text into `*decoded` when not null.
  void String(std::string* decoded) {
    Advance();  // opening quote
    while (pos_ < text_.size() && text_[pos_] != '"') {
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) {
        Advance();
        const char e = text_[pos_];
        Advance();
        if (decoded == nullptr) {
          continue;
        }
        switch (e) {
          case 'n':
            decoded->push_back('\n');
            break;
          case 't':
            decoded->push_back('\t');
            break;
          case 'r':
            decoded->push_back('\r');
            break;
          case 'b':
            decoded->push_back('\b');
            break;
          case 'f':
            decoded->push_back('\f');
            break;
          case 'u':
            AppendEscapedCodePoint(decoded);
            break;
          default:
            decoded->push_back(e);
        }
        continue;
      }
      if (decoded != nullptr) {
        decoded->push_back(text_[pos_]);
      }
      Advance();
    }
    if (pos_ < text_.size()) {
      Advance();  // closing quote
    }
  }

  unsigned Hex4() {
    unsigned v = 0;
    for (int i = 0; i < 4 && pos_ < text_.size(); ++i) {
      const char h = text_[pos_];
      v = v * 16 + static_cast<unsigned>(h <= '9'   ? h - '0'
                                         : h <= 'F' ? h - 'A' + 10
                                                    : h - 'a' + 10);
      Advance();
    }
    return v;
  }

  void AppendEscapedCodePoint(std::string* out) {
    unsigned cp = Hex4();
    if (cp >= 0xD800 && cp < 0xDC00 && pos_ + 1 < text_.size() &&
        text_[pos_] == '\\' && text_[pos_ + 1] == 'u') {
      Advance();
      Advance();
      const unsigned low = Hex4();
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // Skips space and commas to the next member of an object or array: false
  // at its end (`close`, consumed) or the input's.
  bool NextMember(char close) {
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size()) {
        return false;
      }
      if (text_[pos_] == close) {
        Advance();
        return false;
      }
      if (text_[pos_] != ',') {
        return true;
      }
      Advance();
    }
  }

  // The pointer of a member (`pointer`/`name`), made in `storage`; past the
  // length limit, `pointer` itself.
  template <typename Name>
  static const std::string* Child(const std::string& pointer, const Name& name,
                                  std::string* storage) {
    if (pointer.size() > kMaxPointerLength) {
      return &pointer;
    }
    *storage = StrCat(pointer, "/", name);
    return storage;
  }

  void Object(const std::string& pointer, int depth) {
    Advance();  // '{'
    absl::flat_hash_set<std::string> keys;
    while (NextMember('}')) {
      if (text_[pos_] != '"') {
        return;  // not valid JSON
      }
      const Location at = Here();
      std::string key;
      String(&key);
      std::string storage;
      const std::string* child = Child(pointer, PointerEscape(key), &storage);
      if (!keys.insert(key).second) {
        if (Record(*child)) {
          out_->duplicates_.emplace_back(*child, at);
        }
      } else if (Record(*child)) {
        out_->map_.emplace(*child, at);
      }
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ':') {
        Advance();
      }
      Value(*child, depth + 1);
    }
  }

  void Array(const std::string& pointer, int depth) {
    Advance();  // '['
    std::size_t index = 0;
    while (NextMember(']')) {
      std::string storage;
      const std::string* child = Child(pointer, index, &storage);
      ++index;
      if (Record(*child)) {
        out_->map_.emplace(*child, Here());
      }
      const std::size_t before = pos_;
      Value(*child, depth + 1);
      if (pos_ == before) {
        return;  // no progress: not valid JSON
      }
    }
  }

  std::string_view text_;
  Locations* out_;
  std::size_t stored_bytes_ = 0;
  std::size_t pos_ = 0;
  int line_ = 1;
  int column_ = 1;
};

Locations Locations::Scan(std::string_view text) {
  Locations out;
  Scanner scanner(text, &out);
  scanner.SkipSpace();
  out.map_.emplace("", scanner.Here());
  scanner.Value("", 0);
  return out;
}

std::optional<std::pair<std::string, Location>> Locations::FirstDeeperThan(
    int limit) const {
  if (limit < 0 || static_cast<std::size_t>(limit) >= first_at_depth_.size()) {
    return std::nullopt;
  }
  return first_at_depth_[static_cast<std::size_t>(limit)];
}

std::optional<Location> Locations::Find(std::string_view pointer) const {
  while (true) {
    auto it = map_.find(absl::string_view(pointer.data(), pointer.size()));
    if (it != map_.end()) {
      return it->second;
    }
    if (pointer.empty()) {
      return std::nullopt;
    }
    const std::size_t slash = pointer.rfind('/');
    pointer = pointer.substr(0, slash == std::string_view::npos ? 0 : slash);
  }
}

}  // namespace hijackguard::json
