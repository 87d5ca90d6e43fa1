#include "plugin/http_server.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/url_form.h"
#include "common/utf8.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace hijackguard::plugin {

std::optional<std::string_view> HttpRequest::Header(
    std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return std::string_view(v);
  }
  return std::nullopt;
}

std::size_t HttpRequest::HeaderCount(std::string_view name) const {
  std::size_t n = 0;
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) ++n;
  }
  return n;
}

std::optional<std::string_view> HttpRequest::Param(
    std::string_view name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return std::string_view(v);
  }
  return std::nullopt;
}

HttpResponse HttpResponse::Error(int status, std::string_view code,
                                 std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  nlohmann::json body = {
      {"error",
       {{"code", std::string(code)}, {"message", std::string(message)}}}};
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.body += "\n";
  return r;
}

HttpResponse HttpResponse::FromStatus(const absl::Status& status) {
  int http = 500;
  switch (status.code()) {
    case absl::StatusCode::kUnauthenticated:
      http = 401;
      break;
    case absl::StatusCode::kPermissionDenied:
      http = 403;
      break;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      http = 400;
      break;
    case absl::StatusCode::kNotFound:
      http = 404;
      break;
    case absl::StatusCode::kResourceExhausted:
      http = 429;
      break;
    case absl::StatusCode::kUnavailable:
      http = 503;
      break;
    default:
      break;
  }
  return Error(http, absl::StatusCodeToString(status.code()),
               std::string(status.message()));
}

void HttpRouter::Add(std::string method, std::string path, HttpHandler handler,
                     HttpGate gate) {
  routes_.push_back({std::move(method), std::move(path), std::move(handler),
                     std::move(gate), false});
}

void HttpRouter::AddPrefix(std::string method, std::string prefix,
                           HttpHandler handler, HttpGate gate) {
  routes_.push_back({std::move(method), std::move(prefix), std::move(handler),
                     std::move(gate), true});
}

std::vector<const HttpRouter::Route*> HttpRouter::Matching(
    std::string_view path) const {
  std::vector<const Route*> exact;
  std::vector<const Route*> longest;
  for (const Route& route : routes_) {
    if (!route.prefix) {
      if (route.path == path) exact.push_back(&route);
      continue;
    }
    if (!path.starts_with(route.path)) continue;
    if (!longest.empty() && longest.front()->path.size() > route.path.size()) {
      continue;
    }
    if (!longest.empty() && longest.front()->path.size() < route.path.size()) {
      longest.clear();
    }
    longest.push_back(&route);
  }
  return exact.empty() ? longest : exact;
}

std::string_view HttpRouter::RouteOf(std::string_view path) const {
  std::vector<const Route*> found = Matching(path);
  return found.empty() ? std::string_view() : found.front()->path;
}

absl::Status HttpRouter::Gate(const HttpRequest& request) const {
  for (const Route* route : Matching(request.path)) {
    if (route->method == request.method) {
      return route->gate ? route->gate(request) : absl::OkStatus();
    }
  }
  return absl::OkStatus();  // Dispatch answers 404 or 405
}

HttpResponse HttpRouter::Dispatch(const HttpRequest& request) const {
  std::string allow;
  for (const Route* route : Matching(request.path)) {
    if (route->method == request.method) return route->handler(request);
    allow += allow.empty() ? route->method : StrCat(", ", route->method);
  }
  if (allow.empty()) {
    return HttpResponse::Error(404, "NOT_FOUND", "no such path");
  }
  HttpResponse r = HttpResponse::Error(
      405, "METHOD_NOT_ALLOWED",
      StrCat(request.method.size() <= 16 ? request.method : "this method",
             " is not allowed here; use ", allow));
  r.headers.emplace_back("Allow", allow);
  return r;
}

namespace {

// The certificate pair in force, swapped by ReloadTls and installed on each
// connection by the certificate callback.
struct CertPair {
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  STACK_OF(X509) * chain = nullptr;
  ~CertPair() {
    X509_free(cert);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
  }
};

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

absl::StatusOr<std::shared_ptr<CertPair>> LoadPair(const TlsConfig& tls) {
  auto pair = std::make_shared<CertPair>();
  BIO* bio = BIO_new_file(tls.cert_file.c_str(), "r");
  if (bio == nullptr) {
    return absl::InvalidArgumentError(
        StrCat("http.tls.cert_file ", tls.cert_file, ": cannot be read"));
  }
  pair->cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  pair->chain = sk_X509_new_null();
  while (X509* extra = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    sk_X509_push(pair->chain, extra);
  }
  ERR_clear_error();  // the end of the file
  BIO_free(bio);
  if (pair->cert == nullptr) {
    return absl::InvalidArgumentError(StrCat(
        "http.tls.cert_file ", tls.cert_file, ": no PEM certificate in it"));
  }
  bio = BIO_new_file(tls.key_file.c_str(), "r");
  if (bio == nullptr) {
    return absl::InvalidArgumentError(
        StrCat("http.tls.key_file ", tls.key_file, ": cannot be read"));
  }
  pair->key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (pair->key == nullptr) {
    return absl::InvalidArgumentError(StrCat("http.tls.key_file ", tls.key_file,
                                             ": no PEM private key in it (",
                                             OpenSslError(), ")"));
  }
  if (X509_check_private_key(pair->cert, pair->key) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        StrCat("http.tls.key_file ", tls.key_file,
               " does not match the certificate in ", tls.cert_file));
  }
  return pair;
}

std::vector<std::string> SubjectCn(X509* cert) {
  std::vector<std::string> out;
  X509_NAME* name = X509_get_subject_name(cert);
  for (int i = -1;
       (i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) >= 0;) {
    ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
  }
  return out;
}

CertIdentity IdentityOf(X509* cert) {
  CertIdentity id;
  id.subject_cn = SubjectCn(cert);
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type != GEN_URI && n->type != GEN_DNS) continue;
    const ASN1_IA5STRING* s = n->d.ia5;
    std::string v(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                  static_cast<std::size_t>(ASN1_STRING_length(s)));
    (n->type == GEN_URI ? id.uri_san : id.dns_san).push_back(std::move(v));
  }
  GENERAL_NAMES_free(names);
  return id;
}

// "127.0.0.1:80" -> {"127.0.0.1", 80}; "[::1]:80" -> {"::1", 80}.
absl::StatusOr<std::pair<std::string, int>> SplitHostPort(
    const std::string& listen) {
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        StrCat("http.listen ", QuoteInput(listen), " is not HOST:PORT"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = 0;
  const std::string digits = listen.substr(colon + 1);
  if (digits.empty() || digits.size() > 5 ||
      digits.find_first_not_of("0123456789") != std::string::npos ||
      (port = std::stoi(digits)) > 65535) {
    return absl::InvalidArgumentError(StrCat("http.listen ", QuoteInput(listen),
                                             ": the port is not 0-65535"));
  }
  return std::make_pair(host, port);
}

// When the request this thread serves was routed (a connection is served by
// one thread, a request at a time).
thread_local std::optional<absl::Time> routed_at;
// When a streamed answer began (its headers were sent).
thread_local std::optional<absl::Time> answered_at;

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  HttpRouter router;
  std::unique_ptr<httplib::Server> server;
  std::thread thread;
  std::string address;
  int port = 0;
  std::once_flag stop_once;

  absl::Mutex tls_mu;
  std::shared_ptr<CertPair> pair ABSL_GUARDED_BY(tls_mu);  // null without TLS

  // The streams being sent, cancelled when the server stops.
  mutable absl::Mutex streams_mu;
  mutable std::vector<HttpStream*> streams ABSL_GUARDED_BY(streams_mu);
  mutable bool stopping ABSL_GUARDED_BY(streams_mu) = false;
  // Sends `stream` through `sink` (on the connection's thread).
  void SendStream(const std::shared_ptr<HttpStream>& stream,
                  httplib::DataSink& sink) const;

  std::shared_ptr<CertPair> CurrentPair() {
    absl::MutexLock lock(&tls_mu);
    return pair;
  }
  // The request without its body.
  HttpRequest Read(const httplib::Request& in) const;
  void Respond(HttpResponse response, httplib::Response& out) const;

  // Start's steps: the server (TLS or plain), its limits, the routes, the
  // answers to what never reaches a route, and the listening socket.
  [[nodiscard]] absl::Status MakeServer();
  static void SetLimits(httplib::Server& s, const HttpServerOptions& options);
  void Route();
  // A request with a body, read chunk by chunk up to max_body_bytes.
  void ServeWithBody(const httplib::Request& in, httplib::Response& out,
                     const httplib::ContentReader& reader) const;
  static void SetErrorAnswers(httplib::Server& s, std::size_t max_body);
  // Times each request from its routing (every answer goes through the
  // pre-routing handler first) and tells the observer once it is written.
  void Observe(HttpObserver observer);
  [[nodiscard]] absl::Status Listen();
};

namespace {

// An error answered straight into httplib's response, closing the
// connection.
void AnswerAndClose(const HttpResponse& e, httplib::Response& out) {
  out.status = e.status;
  out.set_header("Connection", "close");
  out.set_content(e.body, e.content_type);
}

}  // namespace

HttpRequest HttpServer::Impl::Read(const httplib::Request& in) const {
  HttpRequest request;
  request.method = in.method;
  request.target = in.target;
  request.path = in.path;
  // httplib's own parameters leave '+' as it is, which an HTML form sends
  // for a space: the query is decoded here instead.
  if (const std::size_t q = in.target.find('?'); q != std::string::npos) {
    absl::StatusOr<FormFields> query = ParseForm(
        std::string_view(in.target).substr(q + 1), 64, /*bare_names=*/true);
    if (query.ok()) {
      request.query = *std::move(query);
    } else {
      request.query_error = absl::InvalidArgumentError(
          StrCat("the query: ", query.status().message()));
    }
  }
  request.headers.reserve(in.headers.size());
  for (const auto& [k, v] : in.headers) {
    // httplib adds these itself; they were not sent.
    if (k == "REMOTE_ADDR" || k == "REMOTE_PORT" || k == "LOCAL_ADDR" ||
        k == "LOCAL_PORT") {
      continue;
    }
    request.headers.emplace_back(k, v);
  }
  request.peer =
      StrCat(in.remote_addr.find(':') != std::string::npos ? "ipv6:" : "ipv4:",
             in.remote_addr);
  if (in.ssl != nullptr) {
    X509* cert = SSL_get0_peer_certificate(in.ssl);
    if (cert != nullptr && SSL_get_verify_result(in.ssl) == X509_V_OK) {
      request.cert = IdentityOf(cert);
    }
  }
  return request;
}

void HttpServer::Impl::Respond(HttpResponse response,
                               httplib::Response& out) const {
  out.status = response.status;
  for (auto& [k, v] : response.headers) {
    out.set_header(k, v);
  }
  out.set_header("Cache-Control", "no-store");
  if (response.status >= 400 && response.body.empty()) {
    // Never left empty: httplib's error handler would fill it in.
    response = [&] {
      HttpResponse e = HttpResponse::Error(response.status, "REFUSED", "");
      e.headers = std::move(response.headers);
      return e;
    }();
  }
  if (response.stream != nullptr) {
    // The provider is called once and sends the whole stream; httplib frees
    // it (and so the stream) when the answer is done with.
    out.set_chunked_content_provider(
        response.content_type, [this, stream = std::move(response.stream)](
                                   std::size_t, httplib::DataSink& sink) {
          SendStream(stream, sink);
          return true;
        });
    return;
  }
  if (!response.body.empty() || !response.content_type.empty()) {
    out.set_content(response.body, response.content_type);
  }
}

void HttpServer::Impl::SendStream(const std::shared_ptr<HttpStream>& stream,
                                  httplib::DataSink& sink) const {
  {
    absl::MutexLock lock(&streams_mu);
    if (stopping) {
      sink.done();
      return;
    }
    streams.push_back(stream.get());
  }
  // From here the answer is the stream's: the request's time (metrics) is
  // the time to its first byte.
  answered_at = absl::Now();
  HttpStream::Sink out;
  out.write = [&sink](std::string_view data) {
    // An empty chunk would end the body: nothing to send is success.
    return data.empty() || sink.write(data.data(), data.size());
  };
  // httplib's check: the socket takes writes and has not been closed.
  out.alive = [&sink] { return sink.is_writable(); };
  stream->Run(out);
  {
    absl::MutexLock lock(&streams_mu);
    std::erase(streams, stream.get());
  }
  sink.done();
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

int HttpServer::port() const { return impl_->port; }

const std::string& HttpServer::address() const { return impl_->address; }

absl::Status HttpServer::ReloadTls(const TlsConfig& tls) {
  if (impl_->CurrentPair() == nullptr) {
    return absl::FailedPreconditionError(
        "the HTTP listener serves plaintext; adding TLS needs a restart");
  }
  auto pair = LoadPair(tls);
  if (!pair.ok()) return pair.status();
  absl::MutexLock lock(&impl_->tls_mu);
  impl_->pair = *std::move(pair);
  return absl::OkStatus();
}

void HttpServer::Stop() {
  std::call_once(impl_->stop_once, [this] {
    {
      absl::MutexLock lock(&impl_->streams_mu);
      impl_->stopping = true;
      for (HttpStream* stream : impl_->streams) stream->Cancel();
    }
    impl_->server->stop();
    if (impl_->thread.joinable()) impl_->thread.join();
  });
}

absl::Status HttpServer::Impl::MakeServer() {
  if (!options.tls) {
    server = std::make_unique<httplib::Server>();
    return absl::OkStatus();
  }
  auto loaded = LoadPair(*options.tls);
  if (!loaded.ok()) return loaded.status();
  {
    absl::MutexLock lock(&tls_mu);
    pair = *std::move(loaded);
  }
  const TlsConfig tls = *options.tls;
  std::string problem;
  server = std::make_unique<httplib::SSLServer>([this, tls,
                                                 &problem](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    SSL_CTX_set_cert_cb(
        &ctx,
        [](SSL* ssl, void* arg) -> int {
          auto current = static_cast<Impl*>(arg)->CurrentPair();
          return SSL_use_cert_and_key(ssl, current->cert, current->key,
                                      current->chain, 1) == 1
                     ? 1
                     : 0;
        },
        this);
    if (tls.client_ca_file.empty()) {
      return true;
    }
    if (SSL_CTX_load_verify_locations(&ctx, tls.client_ca_file.c_str(),
                                      nullptr) != 1) {
      problem = StrCat("http.tls.client_ca_file ", tls.client_ca_file, ": ",
                       OpenSslError());
      return false;
    }
    SSL_CTX_set_client_CA_list(
        &ctx, SSL_load_client_CA_file(tls.client_ca_file.c_str()));
    SSL_CTX_set_verify(
        &ctx,
        SSL_VERIFY_PEER |
            (tls.client_cert_optional ? 0 : SSL_VERIFY_FAIL_IF_NO_PEER_CERT),
        nullptr);
    return true;
  });
  if (!problem.empty() || !server->is_valid()) {
    return absl::InvalidArgumentError(
        problem.empty() ? "the HTTP listener's TLS context cannot be made"
                        : problem);
  }
  return absl::OkStatus();
}

void HttpServer::Impl::SetLimits(httplib::Server& s,
                                 const HttpServerOptions& options) {
  const std::size_t threads = static_cast<std::size_t>(options.max_connections);
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  const auto idle = static_cast<time_t>(
      std::max<std::int64_t>(1, absl::ToInt64Seconds(options.idle_timeout)));
  s.set_keep_alive_max_count(1'000'000);
  s.set_keep_alive_timeout(idle);
  s.set_read_timeout(idle, 0);
  s.set_write_timeout(idle, 0);
  s.set_tcp_nodelay(true);
  // Bodies of GET and OPTIONS, which httplib reads itself.
  s.set_payload_max_length(options.max_body_bytes);
}

void HttpServer::Impl::ServeWithBody(
    const httplib::Request& in, httplib::Response& out,
    const httplib::ContentReader& reader) const {
  HttpRequest request = Read(in);
  if (absl::Status gate = router.Gate(request); !gate.ok()) {
    HttpResponse refused = HttpResponse::FromStatus(gate);
    refused.headers.emplace_back("Connection", "close");
    Respond(std::move(refused), out);
    return;
  }
  const std::size_t max_body = options.max_body_bytes;
  std::string body;
  bool too_large = false;
  const bool complete = reader([&](const char* data, std::size_t length) {
    if (body.size() + length > max_body) {
      too_large = true;
      return false;
    }
    body.append(data, length);
    return true;
  });
  if (too_large) {
    AnswerAndClose(
        HttpResponse::Error(413, "PAYLOAD_TOO_LARGE",
                            StrCat("the body is over http.max_body_bytes (",
                                   max_body, " bytes)")),
        out);
    return;
  }
  if (!complete) {
    // Cut short (a timeout, a disconnect): never served in part.
    AnswerAndClose(HttpResponse::Error(400, "INCOMPLETE_BODY",
                                       "the body ended before its announced "
                                       "end"),
                   out);
    return;
  }
  request.body = std::move(body);
  Respond(router.Dispatch(request), out);
}

void HttpServer::Impl::Route() {
  httplib::Server& s = *server;
  auto handler = [this](const httplib::Request& in, httplib::Response& out) {
    HttpRequest request = Read(in);
    request.body = in.body;  // GET, OPTIONS: a body is unusual
    Respond(router.Dispatch(request), out);
  };
  // Bodies are read in ServeWithBody, so that one over the limit stops
  // being read at the limit (chunked ones included) and is answered 413.
  auto with_body = [this](const httplib::Request& in, httplib::Response& out,
                          const httplib::ContentReader& reader) {
    ServeWithBody(in, out, reader);
  };
  // Every method and path reaches the router, which answers 404 and 405.
  s.Get(".*", handler);
  s.Options(".*", handler);
  s.Post(".*", with_body);
  s.Put(".*", with_body);
  s.Delete(".*", with_body);
  s.Patch(".*", with_body);
}

void HttpServer::Impl::SetErrorAnswers(httplib::Server& s,
                                       std::size_t max_body) {
  // A body announced over the limit is refused before any of it is read
  // (httplib would read and discard it all first), and the connection
  // closed.
  s.set_pre_routing_handler(
      [max_body](const httplib::Request& in, httplib::Response& out) {
        routed_at = absl::Now();
        const std::string length = in.get_header_value("Content-Length");
        if (length.empty() || length.size() > 19 ||
            length.find_first_not_of("0123456789") != std::string::npos ||
            std::stoull(length) <= max_body) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        AnswerAndClose(HttpResponse::Error(
                           413, "PAYLOAD_TOO_LARGE",
                           StrCat("the body is ", length,
                                  " bytes; http.max_body_bytes is ", max_body)),
                       out);
        return httplib::Server::HandlerResponse::Handled;
      });
  s.set_error_handler([max_body](const httplib::Request&,
                                 httplib::Response& out) {
    if (!out.body.empty()) return;
    HttpResponse e =
        out.status == 413
            ? HttpResponse::Error(
                  413, "PAYLOAD_TOO_LARGE",
                  StrCat("the body is over http.max_body_bytes (", max_body,
                         " bytes)"))
            : HttpResponse::Error(out.status, "BAD_REQUEST",
                                  "the request could not be read as HTTP/1.1");
    out.set_content(e.body, e.content_type);
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& out,
                             const std::exception_ptr&) {
    HttpResponse e = HttpResponse::Error(500, "INTERNAL", "internal error");
    out.status = 500;
    out.set_content(e.body, e.content_type);
  });
}

void HttpServer::Impl::Observe(HttpObserver observer) {
  if (!observer) return;
  server->set_logger(
      [this, observer = std::move(observer)](const httplib::Request& in,
                                             const httplib::Response& out) {
        const absl::Duration elapsed =
            routed_at ? answered_at.value_or(absl::Now()) - *routed_at
                      : absl::ZeroDuration();
        routed_at.reset();
        answered_at.reset();
        // A prefix route is one label, whatever the path under it.
        const std::string_view route = router.RouteOf(in.path);
        observer(route.empty() ? std::string_view(in.path) : route, out.status,
                 elapsed, out.get_header_value("X-Hijackguard-Action"));
      });
}

absl::Status HttpServer::Impl::Listen() {
  auto host_port = SplitHostPort(options.listen);
  if (!host_port.ok()) return host_port.status();
  httplib::Server& s = *server;
  // httplib listens with a backlog of 5 (compiled in): a burst of new
  // connections (nginx opening its pool) would see SYNs dropped and retried
  // a second later. The socket is listened on again with a real backlog.
  auto listening = std::make_shared<int>(-1);
  s.set_socket_options([listening](int fd) {
    *listening = fd;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  });
  const auto& [host, wanted] = *host_port;
  const int bound = wanted == 0 ? s.bind_to_any_port(host)
                                : (s.bind_to_port(host, wanted) ? wanted : -1);
  if (bound <= 0) {
    return absl::UnavailableError(
        StrCat("cannot listen on ", options.listen,
               " (http.listen): the address is in use or not available"));
  }
  if (*listening >= 0) {
    ::listen(*listening, SOMAXCONN);
  }
  port = bound;
  const std::size_t colon = options.listen.rfind(':');
  address = StrCat(options.listen.substr(0, colon), ":", bound);
  thread = std::thread([this] { server->listen_after_bind(); });
  // httplib's stop() does nothing until its loop runs: wait for it, so that
  // a Stop() right after Start() cannot leave the loop blocked in accept.
  for (int i = 0; i < 5000 && !server->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpServerOptions& options, HttpRouter router,
    HttpObserver observer) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->router = std::move(router);
  // The address first: nothing is loaded for a listener that cannot be.
  if (auto host_port = SplitHostPort(options.listen); !host_port.ok()) {
    return host_port.status();
  }
  if (absl::Status made = impl->MakeServer(); !made.ok()) return made;
  Impl::SetLimits(*impl->server, impl->options);
  impl->Route();
  Impl::SetErrorAnswers(*impl->server, impl->options.max_body_bytes);
  impl->Observe(std::move(observer));
  if (absl::Status listening = impl->Listen(); !listening.ok()) {
    return listening;
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

}  // namespace hijackguard::plugin
