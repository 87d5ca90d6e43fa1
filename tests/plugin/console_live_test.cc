// The console's alerts page and its live feed (Server-Sent Events), the
// audit page with the chain's cached status, and the fleet's events over
// time, on a real HTTP listener in-process.
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/test_dir.h"
#include "tests/plugin/console_fixture.h"

namespace hijackguard::plugin {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A live feed read on a thread of its own until the server ends it or the
// test stops reading.
class Feed {
 public:
  Feed(const std::string& address, const std::string& path,
       const std::string& session) {
    client_ = std::make_unique<httplib::Client>(
        address.substr(0, address.rfind(':')),
        std::stoi(address.substr(address.rfind(':') + 1)));
    client_->set_read_timeout(120, 0);
    thread_ = std::thread([this, path, session] {
      // As a browser asks: an event stream must not be compressed (a
      // compressor would hold the events back).
      httplib::Headers h = {{"Accept-Encoding", "gzip, deflate, br"}};
      if (!session.empty()) {
        h.emplace("Cookie", StrCat(kSessionCookie, "=", session));
      }
      auto r = client_->Get(
          path, h,
          [this](const httplib::Response& response) {
            absl::MutexLock lock(&mu_);
            status_ = response.status;
            content_type_ = response.get_header_value("Content-Type");
            csp_ = response.get_header_value("Content-Security-Policy");
            return true;
          },
          [this](const char* data, std::size_t size) {
            absl::MutexLock lock(&mu_);
            text_.append(data, size);
            return !stop_;
          });
      absl::MutexLock lock(&mu_);
      if (r && status_ == 0) status_ = r->status;
      if (r) text_ += r->body;
      ended_ = true;
    });
  }
  ~Feed() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    client_->stop();  // closes the connection: the read returns now
    thread_.join();
  }
  // Waits (up to a minute) until the feed holds `text` or ended.
  bool WaitFor(const std::string& text) {
    absl::MutexLock lock(&mu_);
    auto found = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return text_.find(text) != std::string::npos || ended_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&found), absl::Minutes(1));
    return text_.find(text) != std::string::npos;
  }
  // Waits (up to `limit`) until the server ended the feed.
  bool WaitForEnd(absl::Duration limit) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&ended_), limit);
    return ended_;
  }
  int status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  std::string text() {
    absl::MutexLock lock(&mu_);
    return text_;
  }
  std::string content_type() {
    absl::MutexLock lock(&mu_);
    return content_type_;
  }
  std::string csp() {
    absl::MutexLock lock(&mu_);
    return csp_;
  }

 private:
  absl::Mutex mu_;
  std::string text_ ABSL_GUARDED_BY(mu_);
  int status_ ABSL_GUARDED_BY(mu_) = 0;
  std::string content_type_ ABSL_GUARDED_BY(mu_);
  std::string csp_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<httplib::Client> client_;
  std::thread thread_;
};

TEST_F(ConsoleTest, TheAlertsPageAndItsFeedShowOnlyTheViewersTenants) {
  const std::string acme = SignIn("token-aud-acme");
  const std::string globex = SignIn("token-aud-globex");
  auto page = Get("/ui/alerts", acme);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->body, HasSubstr("id=\"live-status\""));
  const std::string address = server_->http_address();
  Feed acme_feed(address, "/ui/alerts/stream", acme);
  Feed globex_feed(address, "/ui/alerts/stream", globex);
  ASSERT_TRUE(acme_feed.WaitFor("retry: 5000"));
  ASSERT_TRUE(globex_feed.WaitFor("retry: 5000"));
  EXPECT_EQ(acme_feed.status(), 200);
  EXPECT_THAT(acme_feed.content_type(), StartsWith("text/event-stream"));
  EXPECT_EQ(acme_feed.csp(), kConsoleCsp);

  Hijack("ApplACME0001", 1);
  ASSERT_TRUE(acme_feed.WaitFor("\"trigger\":\"TRAFFIC\"")) << acme_feed.text();
  const std::string events = acme_feed.text();
  EXPECT_THAT(events, HasSubstr("event: alert\ndata: {"));
  EXPECT_THAT(events, HasSubstr("\"device\":\"ApplACME0001\""));
  EXPECT_THAT(events, HasSubstr("\"device_url\":\"/ui/device?tenant=acme&eas="
                                "ApplACME0001\""));
  // The page lists it once loaded; the other tenant's viewer sees neither:
  // its feed brings its own tenant's next alert, and not acme's before it.
  EXPECT_THAT(Get("/ui/alerts", acme)->body, HasSubstr("ApplACME0001"));
  EXPECT_THAT(Get("/ui/alerts", globex)->body, Not(HasSubstr("ApplACME0001")));
  CheckIn("globex", "ApplGLOBEX02", "gus@globex.example");
  ASSERT_TRUE(globex_feed.WaitFor("ApplGLOBEX02")) << globex_feed.text();
  EXPECT_THAT(globex_feed.text(), Not(HasSubstr("ApplACME0001")));
  EXPECT_THAT(acme_feed.text(), Not(HasSubstr("ApplGLOBEX02")));
  // Asking for another tenant is refused.
  EXPECT_EQ(Get("/ui/alerts?tenant=globex", acme)->status, 403);
  EXPECT_EQ(Get("/ui/alerts/stream?tenant=globex", acme)->status, 403);
  EXPECT_EQ(Get("/ui/alerts/stream?after=x", acme)->status, 400);
}

TEST_F(ConsoleTest, AFeedStartsAfterTheAlertThePageOrBrowserHad) {
  const std::string all = SignIn("token-aud-all");
  Hijack("ApplACME0001", 1);
  // The page holds the alert; a feed from there does not send it again,
  // one from the start does.
  auto page = Get("/ui/alerts", all);
  ASSERT_THAT(page->body, HasSubstr("ApplACME0001"));
  const std::string marker = "/ui/alerts/stream?after=";
  const std::size_t at = page->body.find(marker);
  ASSERT_NE(at, std::string::npos);
  const std::string after = page->body.substr(
      at + marker.size(), page->body.find('"', at) - at - marker.size());
  ASSERT_NE(after, "0");
  const std::string address = server_->http_address();
  Feed from_page(address, marker + after, all);
  Feed from_start(address, "/ui/alerts/stream?after=0", all);
  ASSERT_TRUE(from_start.WaitFor("ApplACME0001"));
  ASSERT_TRUE(from_page.WaitFor("retry: 5000"));
  CheckIn("globex", "ApplGLOBEX02", "gus@globex.example");
  Hijack("ApplACME0002", 10);
  ASSERT_TRUE(from_page.WaitFor("ApplACME0002"));
  EXPECT_THAT(from_page.text(), Not(HasSubstr("ApplACME0001")));
}

class ConsoleFeedBoundTest : public ConsoleTest {
 protected:
  void Configure(ServerOptions* options) override {
    options->console.max_event_streams = 1;
  }
};

TEST_F(ConsoleFeedBoundTest, FeedsAreBoundedAndEndWithTheirSession) {
  const std::string first = SignIn("token-aud-acme");
  const std::string second = SignIn("token-aud-all");
  const std::string address = server_->http_address();
  auto feed = std::make_unique<Feed>(address, "/ui/alerts/stream", first);
  ASSERT_TRUE(feed->WaitFor("retry: 5000"));
  // The one place is taken: the next viewer is told to come back, and the
  // gateway's threads stay free.
  auto busy = Get("/ui/alerts/stream", second);
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->status, 429);
  EXPECT_EQ(busy->get_header_value("Retry-After"), "30");
  EXPECT_THAT(busy->body, HasSubstr("console.max_event_streams"));
  EXPECT_EQ(Get("/ui/", second)->status, 200);
  // Signing out ends the session's feed at once, with the reason.
  auto out = http_->Post("/ui/logout",
                         {{"Cookie", StrCat(kSessionCookie, "=", first)}}, "",
                         "application/x-www-form-urlencoded");
  ASSERT_TRUE(out);
  // Well before the feed's next look on its own (15 s).
  ASSERT_TRUE(feed->WaitForEnd(absl::Seconds(5)));
  EXPECT_THAT(feed->text(), HasSubstr("event: end\ndata: \""));
  feed.reset();
  // Its place is free again (given back once the connection is done).
  int status = 0;
  for (int i = 0; i < 100 && status != 200; ++i) {
    Feed next(address, "/ui/alerts/stream", second);
    next.WaitFor("retry: 5000");
    status = next.status();
    if (status != 200) absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(status, 200);
}

TEST_F(ConsoleTest, OnePrincipalMayHoldHalfTheFeeds) {
  // Four feeds by default: two for one principal, whatever its sessions.
  const std::string address = server_->http_address();
  const std::string tab1 = SignIn("token-aud-acme");
  const std::string tab2 = SignIn("token-aud-acme");
  Feed one(address, "/ui/alerts/stream", tab1);
  Feed two(address, "/ui/alerts/stream", tab2);
  ASSERT_TRUE(one.WaitFor("retry: 5000"));
  ASSERT_TRUE(two.WaitFor("retry: 5000"));
  auto third = Get("/ui/alerts/stream", tab1);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 429);
  EXPECT_THAT(third->body, HasSubstr("as many as one principal may"));
  Feed other(address, "/ui/alerts/stream", SignIn("token-aud-globex"));
  EXPECT_TRUE(other.WaitFor("retry: 5000"));
  EXPECT_EQ(other.status(), 200);
}

TEST_F(ConsoleFeedBoundTest, AReloadThatNarrowsThePrincipalEndsItsFeed) {
  const std::string acme = SignIn("token-aud-acme");
  Feed feed(server_->http_address(), "/ui/alerts/stream?tenant=acme", acme);
  ASSERT_TRUE(feed.WaitFor("retry: 5000"));
  auto changed = ConsolePrincipals();
  changed->principals[0].tenants = {"initech"};
  ASSERT_THAT(server_->ReloadAuth(changed), IsOk());
  ASSERT_TRUE(feed.WaitForEnd(absl::Seconds(5)));
  EXPECT_THAT(feed.text(), HasSubstr("event: end"));
}

TEST_F(ConsoleTest, TheFleetCountsDetectionEventsByDay) {
  const std::string all = SignIn("token-aud-all");
  auto before = Get("/ui/", all);
  EXPECT_THAT(before->body, HasSubstr("<p id=\"events-total\">0 detection"));
  Hijack("ApplACME0001", 1);
  auto after = Get("/ui/", all);
  EXPECT_THAT(after->body, Not(HasSubstr("<p id=\"events-total\">0 ")));
  EXPECT_THAT(after->body, HasSubstr("Detection events per day, last 30 days"));
  // A viewer of another tenant counts none of them.
  const std::string globex = SignIn("token-aud-globex");
  EXPECT_THAT(Get("/ui/", globex)->body,
              HasSubstr("<p id=\"events-total\">0 detection"));
}

class ConsoleAuditTest : public ConsoleTest {
 protected:
  void Configure(ServerOptions* options) override {
    dir_ = ::hijackguard::testing::FreshTestDir("console-audit");
    options->state_path = (dir_ / "hijackguard.db").string();
    options->state_retention_interval = absl::ZeroDuration();
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  // The page once `text` is on it (rows are read once committed, the
  // chain once verified in the background).
  std::string PageWith(const std::string& path, const std::string& session,
                       const std::string& text) {
    std::string body;
    for (int i = 0; i < 200; ++i) {
      auto r = Get(path, session);
      if (r && r->body.find(text) != std::string::npos) return r->body;
      if (r) body = r->body;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return body;
  }
  std::filesystem::path dir_;
};

TEST_F(ConsoleAuditTest, TheAuditPageShowsRowsWithActorsAndTheChainsStatus) {
  const std::string all = SignIn("token-aud-all");
  const std::string body = PageWith("/ui/audit", all, "INTACT");
  EXPECT_THAT(body, HasSubstr("INTACT"));
  EXPECT_THAT(body, HasSubstr(" verified "));
  EXPECT_THAT(body, HasSubstr("alice@acme.example"));
  EXPECT_THAT(body, HasSubstr("gina@globex.example"));
  const std::string policy = Get("/ui/audit?kind=policy", all)->body;
  EXPECT_THAT(policy, HasSubstr("<td>policy</td>"));
  EXPECT_THAT(policy, Not(HasSubstr("<td>decision</td>")));
  // A viewer of one tenant sees that tenant's rows only, and is told how
  // many others the page held.
  const std::string acme = SignIn("token-aud-acme");
  const std::string mine = Get("/ui/audit", acme)->body;
  EXPECT_THAT(mine, HasSubstr("alice@acme.example"));
  EXPECT_THAT(mine, Not(HasSubstr("gina@globex.example")));
  EXPECT_THAT(mine, HasSubstr("shown only to principals of every tenant"));
  // Nor how many rows the log holds (how busy the other tenants are).
  EXPECT_THAT(mine, HasSubstr("INTACT"));
  EXPECT_THAT(mine, HasSubstr("The whole log was verified"));
  EXPECT_THAT(mine, Not(HasSubstr(" rows (")));
  // The fleet's events are counted from the store's rows, per tenant.
  Hijack("ApplACME0001", 1);
  // (The rewrite and the ownership claim it makes.)
  EXPECT_THAT(PageWith("/ui/", acme, "<p id=\"events-total\">2 "),
              HasSubstr("<p id=\"events-total\">2 detection events"));
  EXPECT_THAT(Get("/ui/", SignIn("token-aud-globex"))->body,
              HasSubstr("<p id=\"events-total\">0 detection"));
  // Bad filters name the parameter.
  auto bad = Get("/ui/audit?kind=nope", all);
  EXPECT_EQ(bad->status, 400);
  EXPECT_THAT(bad->body, HasSubstr("kind: "));
  auto before = Get("/ui/audit?before=-1", all);
  EXPECT_EQ(before->status, 400);
  EXPECT_THAT(before->body, HasSubstr("before: "));
}

}  // namespace
}  // namespace hijackguard::plugin
