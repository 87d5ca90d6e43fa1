// `hijackguard decode`, `encode` and `parse-request`: the ActiveSync wire
// formats for people and scripts.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <iterator>
#include <memory>

#include "common/file.h"
#include "common/strings.h"
#include "detector/eas/request.h"
#include "detector/wbxml/xml.h"
#include "nlohmann/json.hpp"
#include "plugin/cli/client_flags.h"
#include "plugin/cli/commands.h"

namespace hijackguard::plugin::cli {
namespace {

constexpr std::size_t kMaxInputBytes = std::size_t{64} << 20;

// Reads FILE, or standard input for "-" / "". Returns false after printing
// why it could not, naming the file as `kind`.
bool ReadInput(std::string_view kind, const std::string& path,
               std::string* out) {
  if (path.empty() || path == "-") {
    out->assign(std::istreambuf_iterator<char>(std::cin),
                std::istreambuf_iterator<char>());
    if (out->size() > kMaxInputBytes) {
      std::cerr << "error: standard input is larger than " << kMaxInputBytes
                << " bytes\n";
      return false;
    }
    return true;
  }
  auto text =
      ReadNamedFile(kind, path, kMaxInputBytes, FileKinds::kAlsoStreams);
  if (!text.ok()) {
    std::cerr << "error: " << text.status().message() << "\n";
    return false;
  }
  *out = *std::move(text);
  return true;
}

void PrintIssues(const std::vector<detector::wbxml::Issue>& issues) {
  for (const auto& issue : issues) {
    std::cerr << "offset " << issue.offset << ": "
              << detector::wbxml::IssueCodeName(issue.code) << ": "
              << issue.message << "\n";
  }
}

struct DecodeFlags {
  std::string input;
  bool json = false;
  bool lenient = false;
  bool fragment = false;
};

// Writes all of `bytes` to `fd`; false (errno set) on failure.
bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

int RunDecode(const DecodeFlags& f) {
  // A file is mapped, not copied; standard input is read.
  std::string from_stdin;
  std::unique_ptr<InputBytes> mapped;
  std::string_view body;
  if (f.input.empty() || f.input == "-") {
    if (!ReadInput("WBXML input", f.input, &from_stdin)) {
      return kExitUsage;
    }
    body = from_stdin;
  } else {
    auto input = InputBytes::Open("WBXML input", f.input, kMaxInputBytes);
    if (!input.ok()) {
      std::cerr << "error: " << input.status().message() << "\n";
      return kExitUsage;
    }
    mapped = *std::move(input);
    body = mapped->bytes();
  }
  detector::wbxml::ReaderOptions options;
  options.lenient = f.lenient;
  options.expect_header = !f.fragment;
  std::vector<detector::wbxml::Issue> issues;
  bool ends_with_newline = true;
  if (f.json) {
    auto result = detector::wbxml::WbxmlToJsonEvents(body, options);
    std::fwrite(result.xml.data(), 1, result.xml.size(), stdout);
    ends_with_newline = result.xml.empty() || result.xml.back() == '\n';
    issues = std::move(result.issues);
  } else {
    // Written as it is rendered, straight to the descriptor (no stdio copy):
    // a large body never exists as a whole in memory.
    std::fflush(stdout);
    bool failed = false;
    issues = detector::wbxml::WbxmlToXmlStream(
        body,
        [&](std::string_view piece) {
          ends_with_newline = piece.back() == '\n';
          failed = failed || !WriteAll(STDOUT_FILENO, piece);
        },
        options);
    if (failed) {
      std::cerr << "error: cannot write the output: " << std::strerror(errno)
                << "\n";
      return kExitFailed;
    }
  }
  if (!ends_with_newline) {
    std::fputc('\n', stdout);
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::cerr << "error: cannot write the output: " << std::strerror(errno)
              << "\n";
    return kExitFailed;
  }
  PrintIssues(issues);
  return issues.empty() ? kExitDone : kExitProblems;
}

struct EncodeFlags {
  std::string input;
};

int RunEncode(const EncodeFlags& f) {
  std::string xml;
  if (!ReadInput("XML input", f.input, &xml)) {
    return kExitUsage;
  }
  auto wbxml = detector::wbxml::XmlToWbxml(xml);
  if (!wbxml.ok()) {
    std::cerr << "error: " << wbxml.status().message() << "\n";
    return kExitProblems;
  }
  std::fwrite(wbxml->data(), 1, wbxml->size(), stdout);
  std::fflush(stdout);
  return kExitDone;
}

struct ParseRequestFlags {
  std::string target;
  std::vector<std::string> headers;
  std::string method = "POST";
};

int RunParseRequest(const ParseRequestFlags& f) {
  std::vector<detector::eas::Header> headers;
  for (const std::string& h : f.headers) {
    const std::size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0) {
      std::cerr << "error: -H \"" << h << "\" is not \"Name: value\"\n";
      return kExitUsage;
    }
    std::string_view value = std::string_view(h).substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    headers.emplace_back(std::string_view(h).substr(0, colon), value);
  }
  const auto parsed =
      detector::eas::ParseEasRequest(f.target, headers, f.method);
  const auto& r = parsed.request;
  using Json = nlohmann::ordered_json;
  Json j;
  j["method"] = r.method;
  j["path"] = r.path;
  j["form"] = r.form == detector::eas::QueryForm::kBase64  ? "base64"
              : r.form == detector::eas::QueryForm::kPlain ? "plain"
                                                           : "none";
  j["command"] = std::string(detector::eas::CommandName(r.command));
  j["commandAsSent"] = r.command_name;
  j["user"] = r.user;
  j["deviceId"] = r.device_id;
  j["deviceType"] = r.device_type;
  j["protocolVersion"] = r.protocol_version;
  j["policyKey"] = r.policy_key ? Json(*r.policy_key) : Json(nullptr);
  if (r.locale) {
    char locale[8];
    std::snprintf(locale, sizeof(locale), "0x%04X", *r.locale);
    j["locale"] = locale;
  } else {
    j["locale"] = nullptr;
  }
  j["parameters"] = Json::array();
  for (const auto& [name, value] : r.parameters) {
    j["parameters"].push_back({{"name", name}, {"value", value}});
  }
  j["userAgent"] = r.user_agent;
  j["contentType"] = r.content_type;
  j["issues"] = Json::array();
  for (const auto& issue : parsed.issues) {
    j["issues"].push_back(
        {{"code", std::string(detector::eas::RequestIssueCodeName(issue.code))},
         {"where", issue.where},
         {"position", issue.position},
         {"message", issue.message}});
    std::cerr << issue.where << " position " << issue.position << ": "
              << detector::eas::RequestIssueCodeName(issue.code) << ": "
              << issue.message << "\n";
  }
  std::cout << j.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
  return parsed.ok() ? 0 : 1;
}

}  // namespace

void AddWireCommands(CLI::App& app, RunFn* run) {
  auto d = std::make_shared<DecodeFlags>();
  CLI::App* decode = app.add_subcommand(
      "decode",
      "Decode an ActiveSync WBXML body to XML (or a JSON event list); issues "
      "go to stderr with their byte offsets; exit 0 clean, 1 with issues");
  decode->add_option("input", d->input, "WBXML file, or - for standard input")
      ->capture_default_str();
  decode->add_flag("--json", d->json, "Print the reader's events as JSON");
  decode->add_flag("--lenient", d->lenient,
                   "Skip unknown tokens and keep going after issues");
  decode->add_flag("--fragment", d->fragment,
                   "The input has no WBXML header (starts at the first tag)");
  decode->callback([d, run] { *run = [d] { return RunDecode(*d); }; });

  auto e = std::make_shared<EncodeFlags>();
  CLI::App* encode = app.add_subcommand(
      "encode", "Encode XML as an ActiveSync WBXML body on standard output");
  encode->add_option("input", e->input, "XML file, or - for standard input");
  encode->callback([e, run] { *run = [e] { return RunEncode(*e); }; });

  auto p = std::make_shared<ParseRequestFlags>();
  CLI::App* parse = app.add_subcommand(
      "parse-request",
      "Parse an ActiveSync HTTP request target and headers (MS-ASHTTP); "
      "prints the request as JSON");
  parse
      ->add_option("--target", p->target,
                   "Request target, e.g. "
                   "'/Microsoft-Server-ActiveSync?Cmd=Sync&User=u&...'")
      ->required();
  parse->add_option("-H,--header", p->headers, "A header, 'Name: value'");
  parse->add_option("--method", p->method, "HTTP method")
      ->capture_default_str();
  parse->callback([p, run] { *run = [p] { return RunParseRequest(*p); }; });
}

}  // namespace hijackguard::plugin::cli
