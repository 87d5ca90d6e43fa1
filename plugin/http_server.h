// The HTTP listener (`http.listen`): one small routing layer in front of
// cpp-httplib, so that handlers see plain request and response structs and
// never the library. It serves the gateway endpoints (docs/gateway.md).
// Callers authenticate in the handlers, through AccessControl.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "plugin/access.h"
#include "plugin/config.h"

namespace hijackguard::plugin {

struct HttpRequest {
  std::string method;
  std::string path;    // without the query, percent-decoded
  std::string target;  // as sent: path and query
  // The query's parameters, decoded ('+' as a space), in the order sent;
  // none when the query is malformed, and `query_error` says why (with the
  // byte offset).
  std::vector<std::pair<std::string, std::string>> query;
  absl::Status query_error;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The peer ("ipv4:127.0.0.1") and the verified client certificate.
  std::string peer;
  std::optional<CertIdentity> cert;

  // The first value of a header (name compared ignoring ASCII case).
  std::optional<std::string_view> Header(std::string_view name) const;
  std::size_t HeaderCount(std::string_view name) const;
  // The first value of a query parameter (names compared exactly).
  std::optional<std::string_view> Param(std::string_view name) const;
};

// A body sent while it is produced (the console's Server-Sent Events): the
// connection's thread calls Run once the headers are out, and the body is
// sent in chunks. A stream holds that thread until Run returns, so whoever
// makes streams bounds how many run at once.
class HttpStream {
 public:
  struct Sink {
    // Sends a part of the body; false once the peer is gone or a write
    // timed out (Run should return then).
    std::function<bool(std::string_view)> write;
    // False once the peer has closed the connection (a closed tab), which
    // a write may not notice for a while: a stream that waits long between
    // writes asks now and then.
    std::function<bool()> alive;
  };
  virtual ~HttpStream() = default;
  // Writes the body through `sink` until it ends.
  virtual void Run(const Sink& sink) = 0;
  // Asks a running Run to return soon (the server is stopping); may come
  // before Run starts, from any thread.
  virtual void Cancel() = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type;  // "" with an empty body
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body is this stream's (and `body` is not sent).
  std::shared_ptr<HttpStream> stream;

  // A JSON error: {"error": {"code": ..., "message": ...}}.
  static HttpResponse Error(int status, std::string_view code,
                            std::string_view message);
  // The HTTP status for a refused or failed call (401, 403, 400, 503...).
  static HttpResponse FromStatus(const absl::Status& status);
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;
// Judges a request from its line and headers alone, before its body is read
// (a caller that may not post is not read from at all).
using HttpGate = std::function<absl::Status(const HttpRequest&)>;

// Exact paths, and prefixes (a path ending in '/' added with AddPrefix, for
// every path under it); an exact path wins over a prefix, a longer prefix
// over a shorter one. A known path with another method is answered 405 with
// Allow.
class HttpRouter {
 public:
  void Add(std::string method, std::string path, HttpHandler handler,
           HttpGate gate = nullptr);
  void AddPrefix(std::string method, std::string prefix, HttpHandler handler,
                 HttpGate gate = nullptr);

  struct Route {
    std::string method;
    std::string path;
    HttpHandler handler;
    HttpGate gate;
    bool prefix = false;
  };
  // The route's gate for `request` (no body yet); OK without one.
  [[nodiscard]] absl::Status Gate(const HttpRequest& request) const;
  const std::vector<Route>& routes() const { return routes_; }
  HttpResponse Dispatch(const HttpRequest& request) const;
  // The path of the route that serves `path` (its prefix for a prefix
  // route), for metrics labels; "" when none does.
  std::string_view RouteOf(std::string_view path) const;

 private:
  // The routes for the path (exact ones, else those of the longest prefix).
  std::vector<const Route*> Matching(std::string_view path) const;
  std::vector<Route> routes_;
};

// The listener's options are the configuration's `http` section.
using HttpServerOptions = HttpConfig;

// Told of every answered request (after it is written): its route's path
// (the prefix for a prefix route, else the path as sent), status,
// time from routing to the answer, and the X-Hijackguard-Action header it
// carried ("" without). Called on the connection's thread.
using HttpObserver = std::function<void(std::string_view path, int status,
                                        absl::Duration elapsed,
                                        std::string_view gateway_action)>;

class HttpServer {
 public:
  // Binds and starts serving on its own threads. UNAVAILABLE when the
  // address cannot be bound, INVALID_ARGUMENT for unreadable TLS files.
  // `observer` may be empty.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const HttpServerOptions& options, HttpRouter router,
      HttpObserver observer = nullptr);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;
  const std::string& address() const;  // "host:port", the bound port
  // Checks the certificate and key anew and serves new connections with them
  // (SIGHUP; the client CA is read at start only).
  // On a problem the pair in force stays.
  [[nodiscard]] absl::Status ReloadTls(const TlsConfig& tls);
  // Stops accepting, cancels the streams being sent, and waits for the
  // connections being served. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hijackguard::plugin
