// The console (plugin/console_routes.h, docs/console.md) on a real HTTP
// listener in-process: sign-in, sessions and their end, the headers every
// page carries, tenant scoping of every page, and bad input.
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/plugin/console_fixture.h"

namespace hijackguard::plugin {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

TEST_F(ConsoleTest, PagesNeedASignInAndCarryTheHeaders) {
  auto r = Get("/ui/", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303);
  EXPECT_EQ(r->get_header_value("Location"), "/ui/login");
  auto login = Get("/ui/login", "");
  ASSERT_TRUE(login);
  EXPECT_EQ(login->status, 200);
  EXPECT_EQ(login->get_header_value("Content-Security-Policy"),
            "default-src 'none'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'");
  EXPECT_EQ(login->get_header_value("X-Frame-Options"), "DENY");
  EXPECT_EQ(login->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(login->get_header_value("Cache-Control"), "no-store");
  EXPECT_THAT(login->get_header_value("Content-Type"), StartsWith("text/html"));
  EXPECT_THAT(login->body, HasSubstr("type=\"password\""));
  // No inline script or style: the CSP would block them.
  EXPECT_THAT(login->body, Not(HasSubstr("<script>")));
  EXPECT_THAT(login->body, Not(HasSubstr("style=")));
  auto css = Get("/ui/assets/console.css", "");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->status, 200);
  EXPECT_THAT(css->get_header_value("Content-Type"), StartsWith("text/css"));
  EXPECT_EQ(Get("/ui/assets/nothing.js", "")->status, 404);
  EXPECT_EQ(Get("/ui", "")->status, 303);
}

TEST_F(ConsoleTest, ATokenBecomesASecureSessionCookie) {
  auto r = http_->Post("/ui/login", "token=token-aud-acme",
                       "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 303);
  EXPECT_EQ(r->get_header_value("Location"), "/ui/");
  const std::string cookie = r->get_header_value("Set-Cookie");
  EXPECT_THAT(cookie, StartsWith("__Host-hijackguard="));
  EXPECT_THAT(cookie, HasSubstr("; Path=/; Max-Age=3600; HttpOnly; Secure; "
                                "SameSite=Strict"));
  const std::string session = SignIn("token-aud-acme");
  ASSERT_EQ(session.size(), 64u);
  auto fleet = Get("/ui/", session);
  ASSERT_TRUE(fleet);
  EXPECT_EQ(fleet->status, 200);
  EXPECT_THAT(fleet->body, HasSubstr("<h1>Fleet</h1>"));
  EXPECT_THAT(fleet->body, HasSubstr("aud-acme"));
  EXPECT_THAT(fleet->body, HasSubstr("Sign out"));
  // Every page of the console is an HTML page with the CSP.
  EXPECT_EQ(fleet->get_header_value("Connection"), "close");
  EXPECT_FALSE(fleet->get_header_value("Content-Security-Policy").empty());
}

TEST_F(ConsoleTest, WrongTokensAndRolesAreRefused) {
  int status = 0;
  EXPECT_EQ(SignIn("token-nobody", &status), "");
  EXPECT_EQ(status, 401);
  EXPECT_EQ(SignIn("token-mdm-acme", &status), "");
  EXPECT_EQ(status, 403);
  auto empty =
      http_->Post("/ui/login", "token=", "application/x-www-form-urlencoded");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 400);
  auto bad = http_->Post("/ui/login", "token=abc%G1",
                         "application/x-www-form-urlencoded");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_THAT(bad->body, HasSubstr("at byte 9"));
  // A made-up session is no session.
  auto forged = Get("/ui/", std::string(64, 'a'));
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 401);
  EXPECT_THAT(forged->body, HasSubstr("sign in again"));
}

TEST_F(ConsoleTest, AFormFromAnotherSiteIsRefused) {
  httplib::Headers h = {{"Origin", "https://evil.example"}};
  auto r = http_->Post("/ui/login", h, "token=token-aud-acme",
                       "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_TRUE(r->get_header_value("Set-Cookie").empty());
  httplib::Headers cross = {{"Sec-Fetch-Site", "cross-site"}};
  r = http_->Post("/ui/login", cross, "token=token-aud-acme",
                  "application/x-www-form-urlencoded");
  EXPECT_EQ(r->status, 403);
  httplib::Headers null_origin = {{"Origin", "null"}};
  r = http_->Post("/ui/login", null_origin, "token=token-aud-acme",
                  "application/x-www-form-urlencoded");
  EXPECT_EQ(r->status, 403);
  httplib::Headers same = {{"Sec-Fetch-Site", "same-origin"},
                           {"Origin", "null"}};
  r = http_->Post("/ui/login", same, "token=token-aud-acme",
                  "application/x-www-form-urlencoded");
  EXPECT_EQ(r->status, 303);
}

TEST_F(ConsoleTest, SessionsEndAtSignOutExpiryAndAPrincipalChange) {
  const std::string session = SignIn("token-aud-acme");
  ASSERT_EQ(Get("/ui/", session)->status, 200);
  httplib::Headers h = {{"Cookie", StrCat(kSessionCookie, "=", session)}};
  auto out =
      http_->Post("/ui/logout", h, "", "application/x-www-form-urlencoded");
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 303);
  EXPECT_THAT(out->get_header_value("Set-Cookie"), HasSubstr("Max-Age=0"));
  EXPECT_EQ(Get("/ui/", session)->status, 401);

  const std::string expiring = SignIn("token-aud-acme");
  clock_.Advance(absl::Minutes(59));
  EXPECT_EQ(Get("/ui/", expiring)->status, 200);
  clock_.Advance(absl::Minutes(2));
  auto expired = Get("/ui/", expiring);
  EXPECT_EQ(expired->status, 401);
  EXPECT_THAT(expired->body, HasSubstr("expired"));

  // A reload that changes the principal's tenants ends its sessions; one
  // that leaves another principal as it was keeps that one's.
  const std::string acme = SignIn("token-aud-acme");
  const std::string globex = SignIn("token-aud-globex");
  auto changed = ConsolePrincipals();
  changed->principals[0].tenants = {"acme", "initech"};
  ASSERT_THAT(server_->ReloadAuth(changed), IsOk());
  auto ended = Get("/ui/", acme);
  EXPECT_EQ(ended->status, 401);
  EXPECT_THAT(ended->body, HasSubstr("changed by a configuration reload"));
  EXPECT_EQ(Get("/ui/", globex)->status, 200);
  // And one that withdraws the token ends them too.
  auto withdrawn = ConsolePrincipals();
  withdrawn->principals[1].token_sha256 = {Sha256Raw("another token")};
  ASSERT_THAT(server_->ReloadAuth(withdrawn), IsOk());
  EXPECT_EQ(Get("/ui/", globex)->status, 401);
}

TEST_F(ConsoleTest, EveryPageShowsOnlyTheViewersTenants) {
  const std::string acme = SignIn("token-aud-acme");
  auto fleet = Get("/ui/", acme);
  ASSERT_TRUE(fleet);
  EXPECT_THAT(fleet->body, HasSubstr("<dd id=\"devices-total\">1</dd>"));
  EXPECT_THAT(fleet->body, Not(HasSubstr("globex")));

  auto devices = Get("/ui/devices", acme);
  ASSERT_TRUE(devices);
  EXPECT_EQ(devices->status, 200);
  EXPECT_THAT(devices->body, HasSubstr("ApplACME0001"));
  EXPECT_THAT(devices->body, HasSubstr("alice@acme.example"));
  EXPECT_THAT(devices->body, Not(HasSubstr("ApplGLOBEX01")));
  EXPECT_EQ(Get("/ui/devices?tenant=globex", acme)->status, 403);

  auto device = Get("/ui/device?tenant=acme&eas=ApplACME0001", acme);
  ASSERT_TRUE(device);
  EXPECT_EQ(device->status, 200);
  EXPECT_THAT(device->body, HasSubstr("10A403"));
  EXPECT_THAT(device->body, HasSubstr("ios6-meeting-organizer-hijack"));
  EXPECT_THAT(device->body, HasSubstr("Set-CASMailbox"));
  auto other = Get("/ui/device?tenant=globex&eas=ApplGLOBEX01", acme);
  EXPECT_EQ(other->status, 403);
  EXPECT_THAT(other->body, Not(HasSubstr("gina")));
  EXPECT_EQ(Get("/ui/device?tenant=acme&eas=ApplNOBODY", acme)->status, 404);
}

TEST_F(ConsoleTest, BadFiltersAreNamed) {
  const std::string acme = SignIn("token-aud-acme");
  auto level = Get("/ui/devices?level=HUGE", acme);
  ASSERT_TRUE(level);
  EXPECT_EQ(level->status, 400);
  EXPECT_THAT(level->body, HasSubstr("level: &quot;HUGE&quot; is not LOW"));
  auto token = Get("/ui/devices?page=garbage", acme);
  EXPECT_EQ(token->status, 400);
  EXPECT_THAT(token->body, HasSubstr("page_token"));
  auto unknown = Get("/ui/devices?colour=red", acme);
  EXPECT_EQ(unknown->status, 400);
  EXPECT_THAT(unknown->body, HasSubstr("no filter &quot;colour&quot;"));
  // What a viewer sent comes back escaped, never as markup.
  auto script = Get("/ui/devices?user=%3Cscript%3Ex%3C%2Fscript%3E", acme);
  EXPECT_THAT(script->body, Not(HasSubstr("<script>x")));
  EXPECT_EQ(Get("/ui/device?tenant=acme", acme)->status, 400);
  EXPECT_EQ(Get("/ui/nothing", acme)->status, 404);
  auto query = Get("/ui/devices?user=%ZZ", acme);
  EXPECT_EQ(query->status, 400);
  EXPECT_THAT(query->body, HasSubstr("the &#39;%&#39; at byte 5"));
}

TEST_F(ConsoleTest, TheRepairListAndItsCsvShowTheTenantsMeetings) {
  Hijack("ApplREPAIR01", 10);
  const std::string acme = SignIn("token-aud-acme");
  auto page = Get("/ui/repair", acme);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->body, HasSubstr(kUid));
  EXPECT_THAT(page->body, HasSubstr("bob@example.com"));
  EXPECT_THAT(page->body, HasSubstr("ApplREPAIR01"));
  EXPECT_THAT(page->body,
              HasSubstr("Set-CASMailbox -Identity &#39;alice@example.com&#39; "
                        "-ActiveSyncBlockedDeviceIDs @{Add=&#39;ApplREPAIR01"
                        "&#39;}"));
  EXPECT_THAT(page->body,
              HasSubstr(StrCat("&#39;}\nGet-CalendarDiagnosticObjects "
                               "-Identity &#39;alice@example.com&#39; "
                               "-MeetingId &#39;",
                               kUid, "&#39;\n")));
  // Subjects are not kept by default: no column for them.
  EXPECT_THAT(page->body, Not(HasSubstr(">Subject<")));
  auto csv = Get("/ui/repair.csv", acme);
  ASSERT_TRUE(csv);
  EXPECT_EQ(csv->status, 200);
  EXPECT_THAT(csv->get_header_value("Content-Type"), StartsWith("text/csv"));
  EXPECT_EQ(csv->get_header_value("Content-Disposition"),
            "attachment; filename=\"hijackguard-repair-acme.csv\"");
  EXPECT_THAT(csv->body,
              StartsWith("tenant,meeting_uid,true_organizer_email,"));
  EXPECT_THAT(csv->body,
              HasSubstr(StrCat("\"acme\",\"", kUid, "\",\"bob@example.com\"")));
  // Another tenant's analyst: nothing, and no way to ask for acme's.
  const std::string globex = SignIn("token-aud-globex");
  auto other = Get("/ui/repair", globex);
  EXPECT_THAT(other->body, Not(HasSubstr("ApplREPAIR01")));
  EXPECT_EQ(Get("/ui/repair?tenant=acme", globex)->status, 403);
  EXPECT_EQ(Get("/ui/repair.csv?tenant=acme", globex)->status, 403);
  auto other_csv = Get("/ui/repair.csv", globex);
  EXPECT_THAT(other_csv->body, Not(HasSubstr("ApplREPAIR01")));
  EXPECT_EQ(Get("/ui/repair?page=zz", acme)->status, 400);
}

TEST_F(ConsoleTest, ThePolicyPageAndItsSimulation) {
  // The policy concerns every tenant: a principal of one may not see it.
  const std::string acme = SignIn("token-aud-acme");
  EXPECT_EQ(Get("/ui/policy", acme)->status, 403);
  const std::string all = SignIn("token-aud-all");
  auto page = Get("/ui/policy", all);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->body, HasSubstr("id=\"policy-revision\">" +
                                    server_->engine().policy()->revision()));
  // Without a store there is no audit log to read the history from.
  EXPECT_THAT(page->body, HasSubstr("no audit log"));

  auto simulate = [&](const std::string& session, const std::string& body) {
    httplib::Headers h = {{"Cookie", StrCat(kSessionCookie, "=", session)}};
    return http_->Post("/ui/simulate", h, body,
                       "application/x-www-form-urlencoded");
  };
  auto result = simulate(
      all,
      "tenant=acme&device_id=ApplSIM&user_agent=Apple-iPhone4C1%2F1001.403&"
      "now=2026-12-01T09%3A00%3A00Z&events=%7B%22kind%22%3A%22EVENT_KIND_"
      "ORGANIZER_REWRITE%22%2C%22attendeeCount%22%3A3%7D");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200) << result->body;
  // Enforce mode (the test's policy): a rewrite on iOS 6.0 quarantines.
  EXPECT_THAT(result->body, HasSubstr("id=\"sim-evaluated\"><span "
                                      "class=\"badge action-quarantine\">"));
  EXPECT_THAT(result->body, HasSubstr("2026-12-01 09:00 UTC"));
  // Nothing was recorded: the simulated device is in no list.
  EXPECT_THAT(Get("/ui/devices?tenant=acme", all)->body,
              Not(HasSubstr("ApplSIM")));
  auto bad_time = simulate(all, "now=yesterday");
  EXPECT_EQ(bad_time->status, 400);
  EXPECT_THAT(bad_time->body, HasSubstr("now: &quot;yesterday&quot; is not an "
                                        "RFC 3339 time"));
  auto bad_event = simulate(all, "events=%0A%7Bnope");
  EXPECT_EQ(bad_event->status, 400);
  EXPECT_THAT(bad_event->body, HasSubstr("events, line 2"));
  EXPECT_EQ(simulate(acme, "tenant=acme")->status, 403);
}

TEST_F(ConsoleTest, ATenantLimitedViewerPagesThroughItsDevices) {
  for (int d = 0; d < 52; ++d) {
    CheckIn("acme", StrCat("ApplPAGE", 1000 + d), "p@acme.example");
  }
  const std::string acme = SignIn("token-aud-acme");
  auto first = Get("/ui/devices", acme);
  ASSERT_EQ(first->status, 200);
  const std::size_t at = first->body.find("\" rel=\"next\"");
  ASSERT_NE(at, std::string::npos);
  const std::size_t href = first->body.rfind("href=\"", at) + 6;
  std::string next = first->body.substr(href, at - href);
  // The link's query is HTML-escaped in the page.
  for (std::size_t amp; (amp = next.find("&amp;")) != std::string::npos;) {
    next.replace(amp, 5, "&");
  }
  EXPECT_THAT(next, HasSubstr("tenant=acme"));
  auto second = Get(next, acme);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 200) << second->body;
  EXPECT_THAT(second->body, HasSubstr("ApplPAGE"));
  EXPECT_THAT(second->body, Not(HasSubstr("rel=\"next\"")));
}

TEST_F(ConsoleTest, SessionsAreBoundedPerPrincipalAndReplacedAtSignIn) {
  std::vector<std::string> sessions;
  for (int i = 0; i < 17; ++i) sessions.push_back(SignIn("token-aud-acme"));
  // The 17th ended the oldest of the principal's 16; others are untouched.
  EXPECT_EQ(Get("/ui/", sessions[0])->status, 401);
  EXPECT_EQ(Get("/ui/", sessions[1])->status, 200);
  EXPECT_EQ(Get("/ui/", sessions[16])->status, 200);
  // Signing in from a browser that holds a session ends that session.
  httplib::Headers h = {{"Cookie", StrCat(kSessionCookie, "=", sessions[16])}};
  auto again = http_->Post("/ui/login", h, "token=token-aud-globex",
                           "application/x-www-form-urlencoded");
  ASSERT_EQ(again->status, 303);
  EXPECT_EQ(Get("/ui/", sessions[16])->status, 401);
  // A form over its size is refused before it is read.
  auto big = http_->Post("/ui/login", "token=" + std::string(5000, 'a'),
                         "application/x-www-form-urlencoded");
  EXPECT_EQ(big->status, 400);
  EXPECT_THAT(big->body, HasSubstr("at most 4096 bytes"));
}

TEST(ConsoleDevelopmentTest, OpenOnlyUnderALoopbackName) {
  ServerOptions options;
  options.catalog = ::hijackguard::testing::BuiltinCatalog();
  options.policy = EnforceDefaults(*options.catalog);
  options.http.listen = "127.0.0.1:0";
  auto server = BuildServer(options);
  ASSERT_THAT(server, IsOk());
  const std::string address = (*server)->http_address();
  httplib::Client http(address.substr(0, address.rfind(':')),
                       std::stoi(address.substr(address.rfind(':') + 1)));
  auto local = http.Get("/ui/");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->status, 200);
  EXPECT_THAT(local->body, HasSubstr("anonymous"));
  EXPECT_THAT(local->body, Not(HasSubstr("Sign out")));
  // A name that rebinds to loopback is not a loopback name.
  auto rebound = http.Get("/ui/", {{"Host", "attacker.example:8080"}});
  ASSERT_TRUE(rebound);
  EXPECT_EQ(rebound->status, 421);
  EXPECT_EQ(http.Get("/ui/", {{"Host", "localhost"}})->status, 200);
  EXPECT_EQ(http.Get("/ui/", {{"Host", "[::1]:1"}})->status, 200);
  EXPECT_EQ(http.Get("/ui/", {{"Host", "127.0.0.1.attacker.example"}})->status,
            421);
}

}  // namespace
}  // namespace hijackguard::plugin
