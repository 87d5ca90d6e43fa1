// Who the work on this thread is for, so that the log lines it writes name
// the caller: the principal and the W3C trace id the caller sent. A handler
// sets it for the length of its work on one thread (thread-local); lines
// written elsewhere (the engine's decision listener, the detector's events)
// read it.
#pragma once

#include <string>
#include <string_view>

namespace grpc {
class ServerContextBase;
}  // namespace grpc

namespace hijackguard::plugin {

struct HttpRequest;

struct RequestContext {
  std::string principal;  // "" before authentication
  std::string trace_id;   // 32 lower-case hex digits, or ""
};

// The context of the work running on this thread (empty outside a handler).
const RequestContext& CurrentRequest();

// Sets the thread's context until it goes out of scope (then restores the
// one before).
class ScopedRequestContext {
 public:
  ScopedRequestContext(std::string_view principal, std::string_view trace_id);
  ~ScopedRequestContext();
  ScopedRequestContext(const ScopedRequestContext&) = delete;
  ScopedRequestContext& operator=(const ScopedRequestContext&) = delete;

 private:
  RequestContext saved_;
};

// The trace id of a W3C `traceparent` value
// ("<version>-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"), or ""
// when the value is not one: a caller's text never reaches a log as it is.
std::string TraceIdOf(std::string_view traceparent);
// The same from a gRPC call's `traceparent` metadata, or an HTTP request's
// header; none, or more than one, gives "" (the specification's answer to
// several is to start a new trace).
std::string TraceIdOf(const grpc::ServerContextBase& context);
std::string TraceIdOf(const HttpRequest& request);

}  // namespace hijackguard::plugin
