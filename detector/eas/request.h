// The ActiveSync HTTP request (MS-ASHTTP): the request target in its plain
// ("?Cmd=Sync&User=...&DeviceId=...&DeviceType=...") or base64-encoded form,
// and the headers that matter (MS-ASProtocolVersion, X-MS-PolicyKey,
// User-Agent, Content-Type). Facts: ../shared/docs/activesync.md §2.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hijackguard::detector::eas {

enum class Command {
  kUnknown,
  kSync,
  kSendMail,
  kSmartForward,
  kSmartReply,
  kGetAttachment,
  kFolderSync,
  kFolderCreate,
  kFolderDelete,
  kFolderUpdate,
  kMoveItems,
  kGetItemEstimate,
  kMeetingResponse,
  kSearch,
  kSettings,
  kPing,
  kItemOperations,
  kProvision,
  kResolveRecipients,
  kValidateCert,
  kFind,
  // Legacy plain-text-only commands (EAS 2.5).
  kGetHierarchy,
  kCreateCollection,
  kDeleteCollection,
  kMoveCollection,
  kNotify,
};

// "Sync", "MeetingResponse", ...; "" for kUnknown.
std::string_view CommandName(Command command);
// By name, ignoring ASCII case; kUnknown when not a command.
Command CommandFromName(std::string_view name);
// By the base64 form's command code (MS-ASHTTP 2.2.1.1.1.1.2); kUnknown for
// codes the table does not assign.
Command CommandFromCode(std::uint8_t code);

// True for an MS-ASProtocolVersion value's shape: "<1-2 digits>.<1-2 digits>"
// ("14.1"). It does not check that the version exists.
bool IsProtocolVersionText(std::string_view version);

enum class QueryForm { kNone, kPlain, kBase64 };

struct EasRequest {
  std::string method = "POST";
  std::string path;  // "/Microsoft-Server-ActiveSync", as sent
  QueryForm form = QueryForm::kNone;
  Command command = Command::kUnknown;
  std::string command_name;  // as sent (plain) or from the code table
  std::string user;
  std::string device_id;  // base64 form: ASCII as is, binary ids in hex
  std::string device_type;
  std::string protocol_version;  // "14.1", from the header or the base64 form
  std::optional<std::uint32_t> policy_key;
  std::optional<std::uint16_t> locale;  // base64 form, e.g. 0x0409
  // Command parameters (CollectionId, ItemId, LongId, Occurrence, SaveInSent,
  // AcceptMultiPart, AttachmentName, ...), in the order received.
  std::vector<std::pair<std::string, std::string>> parameters;
  std::string user_agent;
  std::string content_type;
};

enum class RequestIssueCode {
  kTooLong,                  // the target or a header is over its limit
  kBadPercentEncoding,       // "%" not followed by two hex digits
  kInvalidUtf8,              // a decoded value is not UTF-8
  kMissingQuery,             // no "?" query (allowed only for OPTIONS)
  kMissingCommand,           // plain form without Cmd
  kUnknownCommand,           // a command name or code that does not exist
  kMissingParameter,         // User, DeviceId or DeviceType missing
  kDuplicateParameter,       // the same parameter twice
  kBadBase64,                // the base64 query does not decode
  kTruncatedBase64Query,     // the decoded bytes end inside a field
  kUnknownParameterTag,      // a base64 parameter tag the spec does not define
  kBadProtocolVersion,       // not "N.N", or a version the form cannot carry
  kProtocolVersionMismatch,  // header and base64 query disagree
  kBadPolicyKey,             // not a 32-bit number, or a bad length
  kBadHeader,                // a header value that is not UTF-8 or malformed
};

// "TOO_LONG", "BAD_BASE64", ...
std::string_view RequestIssueCodeName(RequestIssueCode code);

struct RequestIssue {
  RequestIssueCode code;
  std::string where;     // "target", "base64 query", "header X-MS-PolicyKey"
  std::size_t position;  // byte offset within `where`
  std::string message;
};

struct ParsedRequest {
  EasRequest request;  // everything that could be read
  std::vector<RequestIssue> issues;
  bool ok() const { return issues.empty(); }
};

using Header = std::pair<std::string_view, std::string_view>;

// Parses a request target ("/Microsoft-Server-ActiveSync?..." or an absolute
// URL) and its headers (names compared ignoring case). Never fails: problems
// come back as issues with their position. `method` "OPTIONS" needs no query.
// Thread-safe.
ParsedRequest ParseEasRequest(std::string_view target,
                              const std::vector<Header>& headers,
                              std::string_view method = "POST");

}  // namespace hijackguard::detector::eas
