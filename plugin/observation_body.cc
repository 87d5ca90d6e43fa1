#include "plugin/observation_body.h"

#include <cstdint>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/strings.h"
#include "plugin/proto_json.h"
#include "plugin/wire_decoder.h"

namespace hijackguard::plugin {
namespace {

absl::Status TooMany() {
  return absl::InvalidArgumentError(
      StrCat("the body holds more than ", kMaxObservations,
             " observations; send at most that many per request"));
}

absl::Status ReadJson(ObservationFormat format, std::string_view body,
                      Observations* out) {
  std::vector<v1::ReportTrafficRequest*>* items = &out->items;
  const bool ndjson = format == ObservationFormat::kNdjson;
  std::string_view rest = body;
  std::size_t line = 0;
  std::size_t offset = 0;
  while (!rest.empty()) {
    std::string_view one = rest;
    if (ndjson) {
      const std::size_t nl = rest.find('\n');
      one = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view()
                                          : rest.substr(nl + 1);
    } else {
      rest = {};
    }
    ++line;
    const std::size_t at = offset;
    offset += one.size() + 1;
    if (absl::StripAsciiWhitespace(std::string(one)).empty()) continue;
    if (items->size() == kMaxObservations) {
      return TooMany();
    }
    v1::ReportTrafficRequest* item = items->emplace_back(
        google::protobuf::Arena::CreateMessage<v1::ReportTrafficRequest>(
            out->arena.get()));
    if (absl::Status parsed = FromJson(one, item); !parsed.ok()) {
      return absl::InvalidArgumentError(
          StrCat(ndjson ? StrCat("line ", line, " (byte ", at, ")")
                        : std::string("the body"),
                 " is not a ReportTrafficRequest in JSON: ", parsed.message()));
    }
  }
  return absl::OkStatus();
}

// A ReportTrafficBatch, read field by field so that an error names the
// observation and where it starts.
absl::Status ReadProtobuf(std::string_view body, Observations* out) {
  std::vector<v1::ReportTrafficRequest*>* items = &out->items;
  std::size_t at = 0;
  while (at < body.size()) {
    const std::size_t start = at;
    const std::string where =
        StrCat("observation ", items->size() + 1, " (byte ", start, ")");
    const auto tag = static_cast<unsigned char>(body[at++]);
    if (tag != 0x0A) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", tag);
      return absl::InvalidArgumentError(
          StrCat(where,
                 " does not start with field 1 of a ReportTrafficBatch "
                 "(key 0x0A) but with key ",
                 hex));
    }
    std::uint64_t length = 0;
    for (int shift = 0;; shift += 7) {
      if (at >= body.size()) {
        return absl::InvalidArgumentError(
            StrCat(where, ": the body ends inside its length"));
      }
      if (shift > 28) {
        return absl::InvalidArgumentError(
            StrCat(where, ": its length has more than 5 bytes"));
      }
      const auto b = static_cast<unsigned char>(body[at++]);
      length |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) break;
    }
    if (length > body.size() - at) {
      return absl::InvalidArgumentError(StrCat(where, " declares ", length,
                                               " bytes; ", body.size() - at,
                                               " follow"));
    }
    if (items->size() == kMaxObservations) {
      return TooMany();
    }
    v1::ReportTrafficRequest* item = items->emplace_back(
        google::protobuf::Arena::CreateMessage<v1::ReportTrafficRequest>(
            out->arena.get()));
    static const WireDecoder* const kDecoder =
        new WireDecoder(v1::ReportTrafficRequest::descriptor());
    if (absl::Status parsed = kDecoder->Parse(body.substr(at, length), item);
        !parsed.ok()) {
      // The decoder names a string that is not UTF-8 (field and offset);
      // anything else it can only call not a message.
      const bool named = !absl::StartsWith(parsed.message(), "request: ");
      return absl::InvalidArgumentError(StrCat(
          where, " is not a ReportTrafficRequest in protobuf binary",
          named ? StrCat(": ", parsed.message())
                : std::string(" (a field cut short or of the wrong type)")));
    }
    at += length;
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<ObservationFormat> ObservationFormatOf(std::string_view media) {
  if (media == "application/json") return ObservationFormat::kJson;
  if (media == "application/x-ndjson") return ObservationFormat::kNdjson;
  if (media == "application/x-protobuf") return ObservationFormat::kProtobuf;
  return std::nullopt;
}

absl::StatusOr<Observations> ReadObservations(ObservationFormat format,
                                              std::string_view body) {
  Observations out;
  // One arena for the request: its messages are built and freed at once.
  google::protobuf::ArenaOptions options;
  options.start_block_size = 1024;
  options.max_block_size = 1 << 20;
  out.arena = std::make_unique<google::protobuf::Arena>(options);
  absl::Status read = format == ObservationFormat::kProtobuf
                          ? ReadProtobuf(body, &out)
                          : ReadJson(format, body, &out);
  if (!read.ok()) return read;
  if (out.items.empty()) {
    return absl::InvalidArgumentError("the body holds no observation");
  }
  return out;
}

}  // namespace hijackguard::plugin
