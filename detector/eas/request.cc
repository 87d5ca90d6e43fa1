#include "detector/eas/request.h"

#include <array>

#include "common/base64.h"
#include "common/strings.h"
#include "common/utf8.h"

namespace hijackguard::detector::eas {
namespace {

constexpr std::size_t kMaxTargetBytes = std::size_t{16} * 1024;
constexpr std::size_t kMaxHeaderBytes = std::size_t{4} * 1024;

struct CommandEntry {
  Command command;
  std::string_view name;
  int code;  // base64 form code, -1 when the command has none
};

constexpr std::array kCommands = {
    CommandEntry{Command::kSync, "Sync", 0},
    CommandEntry{Command::kSendMail, "SendMail", 1},
    CommandEntry{Command::kSmartForward, "SmartForward", 2},
    CommandEntry{Command::kSmartReply, "SmartReply", 3},
    CommandEntry{Command::kGetAttachment, "GetAttachment", 4},
    CommandEntry{Command::kFolderSync, "FolderSync", 9},
    CommandEntry{Command::kFolderCreate, "FolderCreate", 10},
    CommandEntry{Command::kFolderDelete, "FolderDelete", 11},
    CommandEntry{Command::kFolderUpdate, "FolderUpdate", 12},
    CommandEntry{Command::kMoveItems, "MoveItems", 13},
    CommandEntry{Command::kGetItemEstimate, "GetItemEstimate", 14},
    CommandEntry{Command::kMeetingResponse, "MeetingResponse", 15},
    CommandEntry{Command::kSearch, "Search", 16},
    CommandEntry{Command::kSettings, "Settings", 17},
    CommandEntry{Command::kPing, "Ping", 18},
    CommandEntry{Command::kItemOperations, "ItemOperations", 19},
    CommandEntry{Command::kProvision, "Provision", 20},
    CommandEntry{Command::kResolveRecipients, "ResolveRecipients", 21},
    CommandEntry{Command::kValidateCert, "ValidateCert", 22},
    CommandEntry{Command::kFind, "Find", -1},
    CommandEntry{Command::kGetHierarchy, "GetHierarchy", -1},
    CommandEntry{Command::kCreateCollection, "CreateCollection", -1},
    CommandEntry{Command::kDeleteCollection, "DeleteCollection", -1},
    CommandEntry{Command::kMoveCollection, "MoveCollection", -1},
    CommandEntry{Command::kNotify, "Notify", -1},
};

// Base64 form parameter tags (MS-ASHTTP 2.2.1.1.1.1.3).
std::string_view ParameterTagName(std::uint8_t tag) {
  switch (tag) {
    case 0:
      return "AttachmentName";
    case 1:
      return "CollectionId";
    case 2:
      return "CollectionName";  // deprecated
    case 3:
      return "ItemId";
    case 4:
      return "LongId";
    case 5:
      return "ParentId";  // deprecated
    case 6:
      return "Occurrence";
    case 7:
      return "Options";
    case 8:
      return "User";
    default:
      return "";
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

class Parser {
 public:
  explicit Parser(ParsedRequest* out) : out_(out) {}

  void Issue(RequestIssueCode code, std::string where, std::size_t position,
             std::string message) {
    out_->issues.push_back(
        {code, std::move(where), position, std::move(message)});
  }

  // Percent-decodes `text` (at `base` in the target). `plus_is_space` for
  // form-encoded plain parameters. Returns false after reporting.
  bool PercentDecode(std::string_view text, std::size_t base,
                     bool plus_is_space, std::string* out) {
    out->clear();
    out->reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      if (c == '%') {
        const int hi = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
        const int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
          Issue(RequestIssueCode::kBadPercentEncoding, "target", base + i,
                "'%' is not followed by two hex digits");
          return false;
        }
        out->push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
      } else if (c == '+' && plus_is_space) {
        out->push_back(' ');
      } else {
        out->push_back(c);
      }
    }
    return true;
  }

  void ParsePlain(std::string_view query, std::size_t base) {
    EasRequest& r = out_->request;
    r.form = QueryForm::kPlain;
    bool seen_cmd = false;
    bool seen_user = false;
    bool seen_device_id = false;
    bool seen_device_type = false;
    std::size_t start = 0;
    while (start <= query.size()) {
      std::size_t end = query.find('&', start);
      if (end == std::string_view::npos) {
        end = query.size();
      }
      const std::string_view pair = query.substr(start, end - start);
      const std::size_t at = base + start;
      start = end + 1;
      if (pair.empty()) {
        continue;
      }
      const std::size_t eq = pair.find('=');
      std::string key;
      std::string value;
      if (!PercentDecode(pair.substr(0, eq), at, true, &key) ||
          (eq != std::string_view::npos &&
           !PercentDecode(pair.substr(eq + 1), at + eq + 1, true, &value))) {
        continue;
      }
      if (FindInvalidUtf8(key) != std::string::npos ||
          FindInvalidUtf8(value) != std::string::npos) {
        Issue(RequestIssueCode::kInvalidUtf8, "target", at,
              "parameter decodes to bytes that are not UTF-8");
        continue;
      }
      auto take = [&](bool* seen, std::string* field) {
        if (*seen) {
          Issue(RequestIssueCode::kDuplicateParameter, "target", at,
                StrCat("parameter ", key, " appears more than once"));
          return;
        }
        *seen = true;
        *field = std::move(value);
      };
      if (EqualsIgnoreCase(key, "Cmd")) {
        take(&seen_cmd, &r.command_name);
      } else if (EqualsIgnoreCase(key, "User")) {
        take(&seen_user, &r.user);
      } else if (EqualsIgnoreCase(key, "DeviceId")) {
        take(&seen_device_id, &r.device_id);
      } else if (EqualsIgnoreCase(key, "DeviceType")) {
        take(&seen_device_type, &r.device_type);
      } else {
        r.parameters.emplace_back(std::move(key), std::move(value));
      }
    }
    if (!seen_cmd || r.command_name.empty()) {
      Issue(RequestIssueCode::kMissingCommand, "target", base,
            "the query has no Cmd parameter");
    } else {
      r.command = CommandFromName(r.command_name);
      if (r.command == Command::kUnknown) {
        Issue(RequestIssueCode::kUnknownCommand, "target", base,
              StrCat("Cmd=", r.command_name, " is not an ActiveSync command"));
      } else {
        r.command_name = std::string(CommandName(r.command));
      }
    }
    for (auto [seen, name] :
         {std::pair{seen_user, "User"}, std::pair{seen_device_id, "DeviceId"},
          std::pair{seen_device_type, "DeviceType"}}) {
      if (!seen) {
        Issue(RequestIssueCode::kMissingParameter, "target", base,
              StrCat("the query has no ", name, " parameter"));
      }
    }
  }

  void ParseBase64(std::string_view query, std::size_t base) {
    EasRequest& r = out_->request;
    r.form = QueryForm::kBase64;
    std::string text;
    if (!PercentDecode(query, base, false, &text)) {
      return;
    }
    auto decoded = Base64Decode(text);
    if (!decoded.ok()) {
      Issue(RequestIssueCode::kBadBase64, "target", base,
            StrCat("the query is neither plain parameters nor base64: ",
                   decoded.status().message()));
      return;
    }
    const std::string& b = *decoded;
    std::size_t pos = 0;
    auto need = [&](std::size_t n, std::string_view field) {
      if (b.size() - pos < n) {
        Issue(RequestIssueCode::kTruncatedBase64Query, "base64 query", pos,
              StrCat("the decoded query ends inside ", field, " (", b.size(),
                     " bytes)"));
        return false;
      }
      return true;
    };
    auto byte = [&] { return static_cast<std::uint8_t>(b[pos++]); };

    if (!need(4, "the fixed header")) {
      return;
    }
    const std::uint8_t version = byte();
    r.protocol_version = StrCat(version / 10, ".", version % 10);
    if (version != 121 && version != 140 && version != 141 && version != 160 &&
        version != 161) {
      Issue(RequestIssueCode::kBadProtocolVersion, "base64 query", 0,
            StrCat("protocol version byte ", static_cast<int>(version), " (",
                   r.protocol_version,
                   ") cannot use the base64 form (12.1, 14.0, 14.1, 16.0, "
                   "16.1 can)"));
    }
    const std::uint8_t code = byte();
    r.command = CommandFromCode(code);
    r.command_name = std::string(CommandName(r.command));
    if (r.command == Command::kUnknown) {
      Issue(
          RequestIssueCode::kUnknownCommand, "base64 query", 1,
          StrCat("command code ", static_cast<int>(code), " is not assigned"));
    }
    const std::uint8_t lo = byte();
    const std::uint8_t hi = byte();
    r.locale = static_cast<std::uint16_t>(lo | (hi << 8));

    if (!need(1, "the device id length")) {
      return;
    }
    const std::size_t id_length = byte();
    if (!need(id_length, "the device id")) {
      return;
    }
    r.device_id = PrintableOrHex(std::string_view(b).substr(pos, id_length));
    pos += id_length;

    if (!need(1, "the policy key length")) {
      return;
    }
    const std::size_t key_at = pos;
    const std::size_t key_length = byte();
    if (key_length != 0 && key_length != 4) {
      Issue(RequestIssueCode::kBadPolicyKey, "base64 query", key_at,
            StrCat("policy key length ", key_length, " (must be 0 or 4)"));
    }
    if (!need(key_length, "the policy key")) {
      return;
    }
    if (key_length == 4) {
      std::uint32_t key = 0;
      for (int i = 0; i < 4; ++i) {
        key |= static_cast<std::uint32_t>(byte()) << (8 * i);
      }
      r.policy_key = key;
    } else {
      pos += key_length;
    }

    if (!need(1, "the device type length")) {
      return;
    }
    const std::size_t type_length = byte();
    if (!need(type_length, "the device type")) {
      return;
    }
    r.device_type =
        PrintableOrHex(std::string_view(b).substr(pos, type_length));
    pos += type_length;

    while (pos < b.size()) {
      const std::size_t tag_at = pos;
      if (!need(2, "a command parameter")) {
        return;
      }
      const std::uint8_t tag = byte();
      const std::size_t length = byte();
      if (!need(length, "a command parameter value")) {
        return;
      }
      const std::string_view value = std::string_view(b).substr(pos, length);
      pos += length;
      const std::string_view name = ParameterTagName(tag);
      if (name.empty()) {
        Issue(
            RequestIssueCode::kUnknownParameterTag, "base64 query", tag_at,
            StrCat("parameter tag ", static_cast<int>(tag), " is not defined"));
        r.parameters.emplace_back(StrCat("Tag", static_cast<int>(tag)),
                                  PrintableOrHex(value));
      } else if (tag == 7) {
        // Options: a bit field.
        const std::uint8_t bits =
            value.empty() ? 0 : static_cast<std::uint8_t>(value[0]);
        r.parameters.emplace_back("SaveInSent", (bits & 0x01) ? "T" : "F");
        r.parameters.emplace_back("AcceptMultiPart", (bits & 0x02) ? "T" : "F");
      } else if (tag == 8) {
        r.user = PrintableOrHex(value);
      } else {
        r.parameters.emplace_back(std::string(name), PrintableOrHex(value));
      }
    }
  }

  void ParseHeaders(const std::vector<Header>& headers) {
    EasRequest& r = out_->request;
    for (const auto& [name, value] : headers) {
      const std::string where = StrCat("header ", name);
      if (value.size() > kMaxHeaderBytes) {
        Issue(RequestIssueCode::kTooLong, where, kMaxHeaderBytes,
              StrCat(value.size(), " bytes exceeds the limit of ",
                     kMaxHeaderBytes));
        continue;
      }
      if (const std::size_t bad = FindInvalidUtf8(value);
          bad != std::string_view::npos) {
        Issue(RequestIssueCode::kBadHeader, where, bad, "not UTF-8");
        continue;
      }
      if (EqualsIgnoreCase(name, "MS-ASProtocolVersion")) {
        if (!IsProtocolVersionText(value)) {
          Issue(RequestIssueCode::kBadProtocolVersion, where, 0,
                StrCat(QuoteInput(value), " is not a version like 14.1"));
        } else if (r.form == QueryForm::kBase64 &&
                   !r.protocol_version.empty() && r.protocol_version != value) {
          Issue(RequestIssueCode::kProtocolVersionMismatch, where, 0,
                StrCat("header says ", value, ", the base64 query says ",
                       r.protocol_version));
        } else {
          r.protocol_version = std::string(value);
        }
      } else if (EqualsIgnoreCase(name, "X-MS-PolicyKey")) {
        std::uint64_t key = 0;
        bool valid = !value.empty() && value.size() <= 10;
        for (char c : value) {
          valid = valid && c >= '0' && c <= '9';
          key = key * 10 + static_cast<std::uint64_t>(c - '0');
        }
        if (!valid || key > 0xFFFFFFFFULL) {
          Issue(RequestIssueCode::kBadPolicyKey, where, 0,
                StrCat(QuoteInput(value), " is not a 32-bit decimal number"));
        } else {
          r.policy_key = static_cast<std::uint32_t>(key);
        }
      } else if (EqualsIgnoreCase(name, "User-Agent")) {
        r.user_agent = std::string(value);
      } else if (EqualsIgnoreCase(name, "Content-Type")) {
        r.content_type = std::string(value);
      }
    }
  }

 private:
  // Printable ASCII as is; anything else (binary device ids) as hex, the way
  // Z-Push and Horde show them.
  static std::string PrintableOrHex(std::string_view bytes) {
    bool printable = true;
    for (char c : bytes) {
      printable = printable && c > 0x20 && c < 0x7F;
    }
    if (printable) {
      return std::string(bytes);
    }
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : bytes) {
      const auto u = static_cast<unsigned char>(c);
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0x0F]);
    }
    return out;
  }

  ParsedRequest* out_;
};

}  // namespace

bool IsProtocolVersionText(std::string_view v) {
  const std::size_t dot = v.find('.');
  auto digits = [](std::string_view part) {
    if (part.empty() || part.size() > 2) {
      return false;
    }
    for (char c : part) {
      if (c < '0' || c > '9') {
        return false;
      }
    }
    return true;
  };
  return dot != std::string_view::npos && digits(v.substr(0, dot)) &&
         digits(v.substr(dot + 1));
}

std::string_view CommandName(Command command) {
  for (const CommandEntry& e : kCommands) {
    if (e.command == command) {
      return e.name;
    }
  }
  return "";
}

Command CommandFromName(std::string_view name) {
  for (const CommandEntry& e : kCommands) {
    if (EqualsIgnoreCase(e.name, name)) {
      return e.command;
    }
  }
  return Command::kUnknown;
}

Command CommandFromCode(std::uint8_t code) {
  for (const CommandEntry& e : kCommands) {
    if (e.code == code) {
      return e.command;
    }
  }
  return Command::kUnknown;
}

std::string_view RequestIssueCodeName(RequestIssueCode code) {
  switch (code) {
    case RequestIssueCode::kTooLong:
      return "TOO_LONG";
    case RequestIssueCode::kBadPercentEncoding:
      return "BAD_PERCENT_ENCODING";
    case RequestIssueCode::kInvalidUtf8:
      return "INVALID_UTF8";
    case RequestIssueCode::kMissingQuery:
      return "MISSING_QUERY";
    case RequestIssueCode::kMissingCommand:
      return "MISSING_COMMAND";
    case RequestIssueCode::kUnknownCommand:
      return "UNKNOWN_COMMAND";
    case RequestIssueCode::kMissingParameter:
      return "MISSING_PARAMETER";
    case RequestIssueCode::kDuplicateParameter:
      return "DUPLICATE_PARAMETER";
    case RequestIssueCode::kBadBase64:
      return "BAD_BASE64";
    case RequestIssueCode::kTruncatedBase64Query:
      return "TRUNCATED_BASE64_QUERY";
    case RequestIssueCode::kUnknownParameterTag:
      return "UNKNOWN_PARAMETER_TAG";
    case RequestIssueCode::kBadProtocolVersion:
      return "BAD_PROTOCOL_VERSION";
    case RequestIssueCode::kProtocolVersionMismatch:
      return "PROTOCOL_VERSION_MISMATCH";
    case RequestIssueCode::kBadPolicyKey:
      return "BAD_POLICY_KEY";
    case RequestIssueCode::kBadHeader:
      return "BAD_HEADER";
  }
  return "UNKNOWN";
}

ParsedRequest ParseEasRequest(std::string_view target,
                              const std::vector<Header>& headers,
                              std::string_view method) {
  ParsedRequest result;
  Parser parser(&result);
  result.request.method = std::string(method);
  if (target.size() > kMaxTargetBytes) {
    parser.Issue(RequestIssueCode::kTooLong, "target", kMaxTargetBytes,
                 StrCat("target of ", target.size(),
                        " bytes exceeds the limit of ", kMaxTargetBytes));
    return result;
  }
  // An absolute URL ("https://host/Microsoft-Server-ActiveSync?...") keeps
  // only its path and query.
  std::size_t path_from = 0;
  if (const std::size_t scheme = target.find("://");
      scheme != std::string_view::npos && scheme < target.find('?')) {
    path_from = target.find('/', scheme + 3);
    if (path_from == std::string_view::npos) {
      path_from = target.size();
    }
  }
  const std::size_t question = target.find('?', path_from);
  result.request.path = std::string(target.substr(
      path_from,
      (question == std::string_view::npos ? target.size() : question) -
          path_from));
  if (question == std::string_view::npos || question + 1 == target.size()) {
    if (!EqualsIgnoreCase(method, "OPTIONS")) {
      parser.Issue(RequestIssueCode::kMissingQuery, "target", target.size(),
                   "the target has no query (only OPTIONS may omit it)");
    }
  } else {
    const std::string_view query = target.substr(question + 1);
    // The plain form is key=value pairs joined by '&'; the base64 form is
    // one token whose only '=' are padding at the end.
    const std::size_t eq = query.find('=');
    auto is_plain_key = [](std::string_view key) {
      return EqualsIgnoreCase(key, "Cmd") || EqualsIgnoreCase(key, "User") ||
             EqualsIgnoreCase(key, "DeviceId") ||
             EqualsIgnoreCase(key, "DeviceType");
    };
    const bool plain =
        query.find('&') != std::string_view::npos ||
        (eq != std::string_view::npos &&
         (query.find_first_not_of('=', eq) != std::string_view::npos ||
          is_plain_key(query.substr(0, eq))));
    if (plain) {
      parser.ParsePlain(query, question + 1);
    } else {
      parser.ParseBase64(query, question + 1);
    }
  }
  parser.ParseHeaders(headers);
  return result;
}

}  // namespace hijackguard::detector::eas
