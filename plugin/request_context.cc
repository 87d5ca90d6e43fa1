#include "plugin/request_context.h"

#include <algorithm>
#include <utility>

#include "grpcpp/server_context.h"
#include "plugin/http_server.h"

namespace hijackguard::plugin {
namespace {

thread_local RequestContext current;

bool LowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

bool AllZero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '0'; });
}

}  // namespace

const RequestContext& CurrentRequest() { return current; }

ScopedRequestContext::ScopedRequestContext(std::string_view principal,
                                           std::string_view trace_id)
    : saved_(std::exchange(current, RequestContext{std::string(principal),
                                                   std::string(trace_id)})) {}

ScopedRequestContext::~ScopedRequestContext() { current = std::move(saved_); }

std::string TraceIdOf(std::string_view v) {
  // Version 00 is exactly 55 characters; a later version may append fields
  // after a further '-'. Version ff is invalid.
  if (v.size() < 55 || (v.size() > 55 && v[55] != '-') || v[2] != '-' ||
      v[35] != '-' || v[52] != '-') {
    return "";
  }
  const std::string_view version = v.substr(0, 2);
  const std::string_view trace = v.substr(3, 32);
  const std::string_view parent = v.substr(36, 16);
  const std::string_view flags = v.substr(53, 2);
  if (!LowerHex(version) || version == "ff" ||
      (version == "00" && v.size() != 55) || !LowerHex(trace) ||
      AllZero(trace) || !LowerHex(parent) || AllZero(parent) ||
      !LowerHex(flags)) {
    return "";
  }
  return std::string(trace);
}

std::string TraceIdOf(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  const auto range = metadata.equal_range("traceparent");
  if (range.first == range.second || std::next(range.first) != range.second) {
    return "";  // none, or several: the spec's answer is to start a new trace
  }
  return TraceIdOf(
      std::string_view(range.first->second.data(), range.first->second.size()));
}

std::string TraceIdOf(const HttpRequest& request) {
  if (request.HeaderCount("traceparent") != 1) return "";
  return TraceIdOf(*request.Header("traceparent"));
}

}  // namespace hijackguard::plugin
