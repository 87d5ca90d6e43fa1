// `hijackguard replay`, `hijackguard device show` and `hijackguard trace
// build`: traffic traces (JSON Lines of ReportTrafficRequest) and device
// risk from the command line.
#include "plugin/traffic.h"

#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include "common/base64.h"
#include "common/file.h"
#include "common/strings.h"
#include "detector/wbxml/xml.h"
#include "grpcpp/grpcpp.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "plugin/cli/client_flags.h"
#include "plugin/cli/commands.h"
#include "plugin/cli/summary.h"
#include "plugin/proto_json.h"

namespace hijackguard::plugin::cli {
namespace {

constexpr std::size_t kMaxTraceBytes = std::size_t{1} << 30;
constexpr std::size_t kMaxXmlBytes = std::size_t{16} << 20;

// The lines of a JSON Lines file, without blank lines and "//" comments,
// with their line numbers.
absl::StatusOr<std::vector<std::pair<int, std::string>>> ReadLines(
    const std::string& path) {
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin),
                std::istreambuf_iterator<char>());
  } else {
    auto read =
        ReadNamedFile("trace", path, kMaxTraceBytes, FileKinds::kAlsoStreams);
    if (!read.ok()) {
      return read.status();
    }
    text = *std::move(read);
  }
  std::vector<std::pair<int, std::string>> lines;
  std::size_t start = 0;
  int number = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      end = text.size();
    }
    ++number;
    std::string_view line(text.data() + start, end - start);
    start = end + 1;
    while (!line.empty() &&
           (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line.substr(first, 2) == "//") {
      continue;
    }
    lines.emplace_back(number, std::string(line));
  }
  return lines;
}

// ---------------------------------------------------------------------------
// replay

struct ReplayFlags {
  std::string file;
  bool json = false;
  std::string catalog;
  ClientFlags client;
};

struct DeviceSummary {
  std::map<std::string, int> kinds;  // "EVENT_KIND_..." -> count
  int events = 0;
};

constexpr std::string_view kKindPrefix = "EVENT_KIND_";

// The short name of a kind for text output: "ORGANIZER_REWRITE".
std::string KindName(v1::EventKind kind) {
  std::string name = v1::EventKind_Name(kind);
  if (name.starts_with(kKindPrefix)) {
    name.erase(0, kKindPrefix.size());
  }
  return name;
}

std::string StatusText(bool has, const google::protobuf::Int32Value& v) {
  return has ? std::to_string(v.value()) : "-";
}

class AckPrinter {
 public:
  explicit AckPrinter(bool json) : json_(json) {}

  void Print(const v1::TrafficAck& ack) {
    for (const v1::DetectionEvent& e : ack.events()) {
      DeviceSummary& s =
          devices_[StrCat(e.tenant_id(), "/", e.eas_device_id())];
      ++s.events;
      ++s.kinds[v1::EventKind_Name(e.kind())];
      if (json_) {
        std::cout << ToJsonLine(e) << "\n";
        continue;
      }
      std::cout
          << "event " << KindName(e.kind()) << " seq=" << e.sequence()
          << " tenant=" << e.tenant_id() << " device=" << e.eas_device_id()
          << " mailbox=" << e.mailbox() << " uid=" << e.uid()
          << " server_id=" << e.server_id() << " command=" << e.command()
          << " organizer="
          << (e.organizer_email_before().empty() ? "-"
                                                 : e.organizer_email_before())
          << "->"
          << (e.organizer_email_after().empty() ? "-"
                                                : e.organizer_email_after())
          << " status="
          << StatusText(e.has_meeting_status_before(),
                        e.meeting_status_before())
          << "->"
          << StatusText(e.has_meeting_status_after(), e.meeting_status_after())
          << " attendees=" << e.attendee_count() << " meeting_response_before="
          << (e.meeting_response_preceded()
                  ? StrCat(e.meeting_response_age().seconds(), "s")
                  : std::string("no"))
          << "\n";
    }
    for (const v1::ItemError& e : ack.errors()) {
      ++errors_;
      if (json_) {
        nlohmann::json line = {{"error",
                                {{"sequence", ack.sequence()},
                                 {"code", e.code()},
                                 {"field", e.field()},
                                 {"message", e.message()}}}};
        std::cout << line.dump(-1, ' ', false,
                               nlohmann::json::error_handler_t::replace)
                  << "\n";
      } else {
        std::cout << "error seq=" << ack.sequence() << " " << e.code() << " "
                  << e.field() << ": " << e.message() << "\n";
      }
    }
  }

  void Summary(std::size_t observations) {
    if (json_) {
      nlohmann::json devices = nlohmann::json::array();
      for (const auto& [device, s] : devices_) {
        devices.push_back(
            {{"device", device}, {"events", s.events}, {"kinds", s.kinds}});
      }
      nlohmann::json line = {{"summary",
                              {{"observations", observations},
                               {"itemErrors", errors_},
                               {"devices", devices}}}};
      std::cout << line.dump() << "\n";
      return;
    }
    std::cout << "summary: " << observations << " observations, " << errors_
              << " item errors, " << devices_.size()
              << " devices with events\n";
    for (const auto& [device, s] : devices_) {
      std::cout << "  device " << device << ": " << s.events << " events";
      for (const auto& [kind, n] : s.kinds) {
        std::cout << " "
                  << (kind.starts_with(kKindPrefix)
                          ? std::string_view(kind).substr(kKindPrefix.size())
                          : std::string_view(kind))
                  << "=" << n;
      }
      std::cout << "\n";
    }
  }

  int errors() const { return errors_; }

 private:
  bool json_;
  std::map<std::string, DeviceSummary> devices_;
  int errors_ = 0;
};

int RunReplay(const ReplayFlags& f) {
  auto lines = ReadLines(f.file);
  if (!lines.ok()) {
    std::cerr << "error: " << lines.status().message() << "\n";
    return ExitStatusOf(lines.status());
  }
  std::vector<v1::ReportTrafficRequest> requests(lines->size());
  for (std::size_t i = 0; i < lines->size(); ++i) {
    const auto& [number, line] = (*lines)[i];
    if (absl::Status s = FromJson(line, &requests[i]); !s.ok()) {
      std::cerr << "error: " << f.file << ":" << number
                << ": not a ReportTrafficRequest in proto3 JSON: "
                << s.message() << "\n";
      return kExitUsage;
    }
  }
  AckPrinter printer(f.json);
  if (f.client.server.empty()) {
    absl::StatusOr<detector::KnownIssueCatalog> catalog =
        f.catalog.empty() ? detector::KnownIssueCatalog::Builtin()
                          : detector::KnownIssueCatalog::LoadFile(f.catalog);
    if (!catalog.ok()) {
      std::cerr << "error: " << catalog.status().message() << "\n";
      return ExitStatusOf(catalog.status());
    }
    detector::TrafficDetector detector(
        std::make_shared<const detector::KnownIssueCatalog>(
            *std::move(catalog)));
    TrafficHandler handler(&detector, &RealClock());
    for (const v1::ReportTrafficRequest& r : requests) {
      v1::TrafficAck ack;
      handler.Report(r, &ack);
      printer.Print(ack);
    }
  } else {
    auto call = Dial<v1::CompliancePlugin>(f.client);
    if (call->failed != 0) {
      return call->failed;
    }
    auto stream = call->stub->StreamTraffic(&call->context);
    std::thread writer([&] {
      for (const v1::ReportTrafficRequest& r : requests) {
        if (!stream->Write(r)) {
          break;
        }
      }
      stream->WritesDone();
    });
    v1::StreamTrafficResponse batch;
    std::size_t acked = 0;
    while (stream->Read(&batch)) {
      for (const v1::TrafficAck& ack : batch.acks()) {
        printer.Print(ack);
        ++acked;
      }
    }
    writer.join();
    const grpc::Status status = stream->Finish();
    if (!status.ok()) {
      return PrintRpcError("StreamTraffic", status, f.client);
    }
    if (acked != requests.size()) {
      std::cerr << "error: " << requests.size() << " observations sent, "
                << acked << " acknowledged\n";
      return kExitFailed;
    }
  }
  printer.Summary(requests.size());
  return printer.errors() == 0 ? kExitDone : kExitProblems;
}

// ---------------------------------------------------------------------------
// device show

struct DeviceShowFlags {
  bool json = false;
  std::string tenant;
  std::string device_id;
  std::string mdm_device_id;
  ClientFlags client;
};

int RunDeviceShow(const DeviceShowFlags& f) {
  auto call = Dial<v1::CompliancePlugin>(f.client);
  if (call->failed != 0) {
    return call->failed;
  }
  v1::GetDeviceRiskRequest request;
  request.set_tenant_id(f.tenant);
  request.set_eas_device_id(f.device_id);
  request.set_mdm_device_id(f.mdm_device_id);
  v1::GetDeviceRiskResponse response;
  const grpc::Status status =
      call->stub->GetDeviceRisk(&call->context, request, &response);
  if (!status.ok()) {
    return PrintRpcError("GetDeviceRisk", status, f.client);
  }
  if (WantJson(f.json)) {
    std::cout << ToJson(response) << "\n";
  } else {
    PrintSummary(response, std::cout);
  }
  return kExitDone;
}

// ---------------------------------------------------------------------------
// trace build

std::string DirName(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// Replaces an XML file reference (`xml_key`, a path relative to `dir`) in
// `exchange` by the WBXML body under `body_key`.
absl::Status EncodeXmlBody(nlohmann::json& exchange, const char* xml_key,
                           const char* body_key, const std::string& dir) {
  if (!exchange.contains(xml_key)) {
    return absl::OkStatus();
  }
  if (!exchange[xml_key].is_string()) {
    return absl::InvalidArgumentError(
        StrCat(xml_key, " must be a path (string)"));
  }
  const std::string rel = exchange[xml_key].get<std::string>();
  const std::string path = rel.rfind('/', 0) == 0 ? rel : dir + "/" + rel;
  auto xml =
      ReadNamedFile("XML body", path, kMaxXmlBytes, FileKinds::kAlsoStreams);
  if (!xml.ok()) {
    return xml.status();
  }
  auto wbxml = detector::wbxml::XmlToWbxml(*xml);
  if (!wbxml.ok()) {
    return absl::InvalidArgumentError(
        StrCat(path, ": ", wbxml.status().message()));
  }
  exchange.erase(xml_key);
  exchange[body_key] = Base64Encode(*wbxml);
  return absl::OkStatus();
}

int RunTraceBuild(const std::string& source) {
  auto lines = ReadLines(source);
  if (!lines.ok()) {
    std::cerr << "error: " << lines.status().message() << "\n";
    return ExitStatusOf(lines.status());
  }
  const std::string dir = DirName(source);
  for (const auto& [number, line] : *lines) {
    auto fail = [&, n = number](std::string_view why) {
      std::cerr << "error: " << source << ":" << n << ": " << why << "\n";
      return kExitUsage;
    };
    nlohmann::json doc = nlohmann::json::parse(line, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      return fail("not a JSON object");
    }
    for (const char* key : {"eas_exchange", "easExchange"}) {
      if (doc.contains(key) && doc[key].is_object()) {
        for (auto [xml_key, body_key] :
             {std::pair{"request_xml", "request_body"},
              std::pair{"requestXml", "request_body"},
              std::pair{"response_xml", "response_body"},
              std::pair{"responseXml", "response_body"}}) {
          if (absl::Status s = EncodeXmlBody(doc[key], xml_key, body_key, dir);
              !s.ok()) {
            return fail(std::string(s.message()));
          }
        }
      }
    }
    v1::ReportTrafficRequest request;
    if (absl::Status s = FromJson(doc.dump(), &request); !s.ok()) {
      return fail(StrCat("not a ReportTrafficRequest: ", s.message()));
    }
    // Printed from the JSON document (keys sorted) rather than the message:
    // protobuf's map order varies between runs, and traces belong in git.
    std::cout << doc.dump() << "\n";
  }
  return kExitDone;
}

}  // namespace

void AddTrafficCommands(CLI::App& app, RunFn* run) {
  {
    auto f = std::make_shared<ReplayFlags>();
    CLI::App* c = app.add_subcommand(
        "replay",
        "Run a traffic trace (JSON Lines of ReportTrafficRequest) through the "
        "detector, in-process or against a plugin (--server); prints the "
        "events and a per-device summary");
    c->add_option("file", f->file, "Trace file, or - for standard input")
        ->required();
    c->add_flag("--json", f->json,
                "JSON Lines: one event (or error) per line, then a summary");
    c->add_option("--catalog", f->catalog,
                  "Known-issue catalog for in-process runs (default: "
                  "built in)");
    // The deadline covers the whole stream: generous by default.
    f->client.Register(c, /*server_required=*/false,
                       /*default_timeout_seconds=*/3600);
    c->callback([f, run] { *run = [f] { return RunReplay(*f); }; });
  }
  {
    CLI::App* device = app.add_subcommand("device", "Device risk");
    device->require_subcommand(1);
    auto f = std::make_shared<DeviceShowFlags>();
    CLI::App* c = device->add_subcommand(
        "show",
        "What hijackguard knows of a device and the policy's view of it: a "
        "summary on a terminal, GetDeviceRisk as JSON otherwise");
    c->add_option("--tenant", f->tenant, "Tenant id")->required();
    c->add_option("--device-id", f->device_id, "EAS DeviceId");
    c->add_option("--mdm-device-id", f->mdm_device_id, "The MDM's device id");
    f->client.Register(c);
    c->add_flag("--json", f->json,
                "Print the response as JSON even on a terminal");
    c->callback([f, run] { *run = [f] { return RunDeviceShow(*f); }; });
    AddDeviceListCommand(*device, run);
  }
  {
    CLI::App* trace = app.add_subcommand("trace", "Traffic traces");
    trace->require_subcommand(1);
    auto source = std::make_shared<std::string>();
    CLI::App* c = trace->add_subcommand(
        "build",
        "Build a trace from a source file: JSON Lines of ReportTrafficRequest "
        "where eas_exchange.request_xml / response_xml name XML files "
        "(relative to the source) that are encoded to WBXML bodies");
    c->add_option("source", *source, "Source file")->required();
    c->callback(
        [source, run] { *run = [source] { return RunTraceBuild(*source); }; });
  }
}

}  // namespace hijackguard::plugin::cli
