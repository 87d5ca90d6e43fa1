// The HTTP listener's router (plugin/http_server.h): exact paths and
// prefixes, 404 and 405, the route a metric is labelled with, and the query
// as handlers see it on a real listener.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "plugin/http_server.h"
#include "tests/common/status_matchers.h"

namespace hijackguard::plugin {
namespace {

using ::hijackguard::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::Pair;

HttpHandler Says(std::string what) {
  return [what](const HttpRequest&) {
    HttpResponse r;
    r.content_type = "text/plain";
    r.body = what;
    return r;
  };
}

HttpRequest Get(std::string path, std::string method = "GET") {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  return r;
}

TEST(HttpRouterTest, ExactPathsWinOverPrefixesAndLongerPrefixesOverShorter) {
  HttpRouter router;
  router.AddPrefix("GET", "/ui/", Says("ui"));
  router.AddPrefix("GET", "/ui/assets/", Says("assets"));
  router.Add("GET", "/ui/login", Says("login"));
  router.Add("POST", "/ui/login", Says("sign in"));
  router.Add("GET", "/metrics", Says("metrics"));

  EXPECT_EQ(router.Dispatch(Get("/ui/")).body, "ui");
  EXPECT_EQ(router.Dispatch(Get("/ui/devices")).body, "ui");
  EXPECT_EQ(router.Dispatch(Get("/ui/assets/console.css")).body, "assets");
  EXPECT_EQ(router.Dispatch(Get("/ui/login")).body, "login");
  EXPECT_EQ(router.Dispatch(Get("/ui/login", "POST")).body, "sign in");
  EXPECT_EQ(router.Dispatch(Get("/metrics")).body, "metrics");
  // A prefix is not its own path without the slash, nor a path's middle.
  EXPECT_EQ(router.Dispatch(Get("/ui")).status, 404);
  EXPECT_EQ(router.Dispatch(Get("/x/ui/")).status, 404);
  EXPECT_EQ(router.Dispatch(Get("/metrics/x")).status, 404);

  EXPECT_EQ(router.RouteOf("/ui/devices/t1/e:abc"), "/ui/");
  EXPECT_EQ(router.RouteOf("/ui/assets/x.js"), "/ui/assets/");
  EXPECT_EQ(router.RouteOf("/ui/login"), "/ui/login");
  EXPECT_EQ(router.RouteOf("/nothing"), "");
}

TEST(HttpRouterTest, AnotherMethodUnderAPrefixIsAnswered405WithAllow) {
  HttpRouter router;
  router.AddPrefix("GET", "/ui/", Says("ui"));
  router.Add("POST", "/ui/login", Says("sign in"));
  HttpResponse put = router.Dispatch(Get("/ui/devices", "PUT"));
  EXPECT_EQ(put.status, 405);
  EXPECT_THAT(put.headers, ElementsAre(Pair("Allow", "GET")));
  // The exact path's methods, not the prefix's, answer for it.
  HttpResponse get = router.Dispatch(Get("/ui/login"));
  EXPECT_EQ(get.status, 405);
  EXPECT_THAT(get.headers, ElementsAre(Pair("Allow", "POST")));
}

TEST(HttpRouterTest, GatesAreThoseOfTheRouteThatServes) {
  HttpRouter router;
  router.AddPrefix("POST", "/ui/", Says("ui"), [](const HttpRequest&) {
    return absl::PermissionDeniedError("prefix gate");
  });
  router.Add("POST", "/ui/login", Says("login"), nullptr);
  EXPECT_THAT(router.Gate(Get("/ui/login", "POST")), IsOk());
  EXPECT_EQ(router.Gate(Get("/ui/x", "POST")).message(), "prefix gate");
}

TEST(HttpRouterTest, HandlersSeeTheDecodedPathAndQuery) {
  HttpRouter router;
  std::string seen;
  std::string error;
  router.AddPrefix("GET", "/ui/", [&seen, &error](const HttpRequest& r) {
    seen = r.path + "|";
    for (const auto& [k, v] : r.query) seen += k + "=" + v + ";";
    seen += "|" + std::string(r.Param("user").value_or("-"));
    if (!r.query_error.ok()) error = std::string(r.query_error.message());
    return HttpResponse{};
  });
  HttpServerOptions options;
  options.listen = "127.0.0.1:0";
  auto server = HttpServer::Start(options, std::move(router));
  ASSERT_THAT(server, IsOk());
  httplib::Client client("127.0.0.1", (*server)->port());
  client.set_url_encode(false);  // the target exactly as written
  auto r = client.Get(
      "/ui/devices/t%201?user=a%40example.com&level=HIGH&q=a+b&level=LOW");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(seen,
            "/ui/devices/t 1|user=a@example.com;level=HIGH;q=a b;level=LOW;|"
            "a@example.com");
  r = client.Get("/ui/x?a=1&b=%4");
  ASSERT_TRUE(r);
  EXPECT_EQ(seen, "/ui/x||-");
  EXPECT_EQ(error,
            "the query: the '%' at byte 6 is not followed by two hex digits");
  (*server)->Stop();
}

// A stream that writes its parts, then waits until cancelled.
class PartsThenWait : public HttpStream {
 public:
  explicit PartsThenWait(std::vector<std::string> parts)
      : parts_(std::move(parts)) {}
  void Run(const Sink& sink) override {
    EXPECT_TRUE(sink.alive());
    for (const std::string& p : parts_) {
      if (!sink.write(p)) return;
    }
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&cancelled_), absl::Minutes(1));
    EXPECT_TRUE(cancelled_) << "Stop did not cancel the stream";
  }
  void Cancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  }

 private:
  std::vector<std::string> parts_;
  absl::Mutex mu_;
  bool cancelled_ = false;
};

TEST(HttpRouterTest, AStreamIsSentAsItIsWrittenAndStopCancelsIt) {
  HttpRouter router;
  router.Add("GET", "/stream", [](const HttpRequest&) {
    HttpResponse r;
    r.content_type = "text/event-stream";
    r.stream = std::make_shared<PartsThenWait>(
        std::vector<std::string>{"data: one\n\n", "", "data: two\n\n"});
    return r;
  });
  HttpServerOptions options;
  options.listen = "127.0.0.1:0";
  auto server = HttpServer::Start(options, std::move(router));
  ASSERT_THAT(server, IsOk());
  absl::Mutex mu;
  std::string received;
  int status = 0;
  std::thread reader([&] {
    httplib::Client client("127.0.0.1", (*server)->port());
    client.set_read_timeout(60, 0);
    auto r = client.Get(
        "/stream",
        [&](const httplib::Response& response) {
          status = response.status;
          return true;
        },
        [&](const char* data, std::size_t size) {
          absl::MutexLock lock(&mu);
          received.append(data, size);
          return true;
        });
  });
  {
    // Both parts arrive while the handler still runs (an empty write sends
    // nothing and does not end the body).
    absl::MutexLock lock(&mu);
    const std::string want = "data: one\n\ndata: two\n\n";
    mu.AwaitWithTimeout(
        absl::Condition(
            +[](std::string* r) { return r->size() >= 22; }, &received),
        absl::Minutes(1));
    EXPECT_EQ(received, want);
  }
  // Stop does not wait for the stream to end on its own: it cancels it.
  (*server)->Stop();
  reader.join();
  EXPECT_EQ(status, 200);
}

}  // namespace
}  // namespace hijackguard::plugin
