// The console's rendering (plugin/console/): escaping, links, charts and the
// frame, without a server.
#include "common/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plugin/console/alerts_page.h"
#include "plugin/console/audit_page.h"
#include "plugin/console/fleet_page.h"
#include "plugin/console/html.h"
#include "plugin/console/repair_page.h"
#include "plugin/console/svg.h"
#include "tests/common/builtin_catalog.h"

namespace hijackguard::console {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ConsoleHtmlTest, EscapesTextAndEncodesLinks) {
  EXPECT_EQ(Escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(Escape("bad \xFF byte"), "bad \xEF\xBF\xBD byte");
  EXPECT_EQ(Escape("two\nlines\r\x01"), "two\nlines\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(UrlEncode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
  EXPECT_EQ(Link("/ui/devices",
                 {{"tenant", "acme corp"}, {"level", ""}, {"user", "a@b"}}),
            "/ui/devices?tenant=acme%20corp&user=a%40b");
}

TEST(ConsoleHtmlTest, TheFrameNamesTheViewerAndTheCurrentSection) {
  Viewer viewer;
  viewer.principal = "aud<1>";
  viewer.tenants = {"acme", "globex"};
  viewer.session = true;
  const std::string page =
      RenderPage({"Devices", Section::kDevices, &viewer}, "<p>body</p>");
  EXPECT_THAT(page, HasSubstr("<html lang=\"en\">"));
  EXPECT_THAT(page, HasSubstr("<title>Devices - hijackguard</title>"));
  EXPECT_THAT(page, HasSubstr("href=\"/ui/devices\" aria-current=\"page\""));
  EXPECT_THAT(page, HasSubstr("aud&lt;1&gt; &middot; acme, globex"));
  EXPECT_THAT(page, HasSubstr("action=\"/ui/logout\""));
  EXPECT_THAT(page, HasSubstr("<main><h1>Devices</h1><p>body</p></main>"));
  EXPECT_THAT(page, Not(HasSubstr("style=")));
  viewer.session = false;
  EXPECT_THAT(RenderPage({"x", Section::kFleet, &viewer}, ""),
              Not(HasSubstr("/ui/logout")));
}

TEST(ConsoleHtmlTest, ChartsCarryTheirNumbersInTheirAccessibleName) {
  const std::string chart =
      BarChart("By level", {{"LOW", 3, "level-low"}, {"<HIGH>", 1, ""}});
  EXPECT_THAT(chart, HasSubstr("role=\"img\""));
  EXPECT_THAT(chart,
              HasSubstr("aria-label=\"By level; LOW: 3; &lt;HIGH&gt;: 1\""));
  EXPECT_THAT(chart, HasSubstr(">&lt;HIGH&gt;</text>"));
  EXPECT_THAT(chart, Not(HasSubstr("style=")));
  const std::string bar =
      StackedBar("Score", {{"KNOWN_ISSUE", 30, ""}, {"EVENTS", 50, ""}}, 100);
  // 30 % and 50 % of 640 pixels, side by side.
  EXPECT_THAT(bar, HasSubstr("x=\"0.0\" y=\"4\" width=\"192.0\""));
  EXPECT_THAT(bar, HasSubstr("x=\"192.0\" y=\"4\" width=\"320.0\""));
  EXPECT_THAT(bar, HasSubstr("KNOWN_ISSUE 30.0"));
}

TEST(ConsoleHtmlTest, TheFleetCountsDevicesPerIssueAndTenant) {
  FleetView fleet;
  fleet.catalog = ::hijackguard::testing::BuiltinCatalog().get();
  fleet.mode = policy::Mode::kMonitor;
  fleet.policy_revision = "0123456789abcdef";
  policy::DeviceCount hijack;
  hijack.tenant_id = "acme";
  hijack.platform = "ios";
  hijack.os_version = "6.0";
  hijack.build = "10A403";
  hijack.evaluated_action = policy::Action::kQuarantine;
  hijack.level = policy::Level::kHigh;
  hijack.devices = 7;
  policy::DeviceCount fixed = hijack;
  fixed.os_version = "6.1";
  fixed.build = "10B141";
  fixed.evaluated_action = policy::Action::kAllow;
  fixed.level = policy::Level::kLow;
  fixed.devices = 5;
  fleet.counts = {hijack, fixed};
  const std::string page = RenderFleet(fleet);
  EXPECT_THAT(page, HasSubstr("<dd id=\"devices-total\">12</dd>"));
  EXPECT_THAT(page, HasSubstr("<dd id=\"quarantine-enforced\">0</dd>"));
  EXPECT_THAT(page, HasSubstr("<dd id=\"quarantine-evaluated\">7</dd>"));
  EXPECT_THAT(page, HasSubstr("QUARANTINE in enforce mode"));
  EXPECT_THAT(page, HasSubstr("iOS 6: 12"));
  EXPECT_THAT(page, HasSubstr("iOS 10A403 (6.0): 7"));
  // The hijack issue's row counts the 6.0 devices only.
  const std::size_t row =
      page.find("<code>ios6-meeting-organizer-hijack</code>");
  ASSERT_NE(row, std::string::npos);
  EXPECT_THAT(page.substr(row, 200), HasSubstr("<td class=\"num\">7</td>"));
  // Per tenant: 7 would be quarantined, none are now.
  EXPECT_THAT(page, HasSubstr("QUARANTINE</span></a></td><td class=\"num\">0"
                              "</td><td class=\"num\">7</td><td "
                              "class=\"num\">+7</td>"));
}

TEST(ConsoleHtmlTest, TheFleetChartsEventsPerDayWithEmptyDaysShown) {
  FleetView fleet;
  fleet.today = 20'000;  // 2024-10-04
  fleet.days = 30;
  fleet.event_days = {{19'970, 9},  // before the window: not counted
                      {19'999, 3},
                      {20'000, 2}};
  const std::string page = RenderFleet(fleet);
  EXPECT_THAT(page, HasSubstr("<p id=\"events-total\">5 detection events"));
  EXPECT_THAT(page, HasSubstr("Sep 05: 0; "));  // the window's first day
  EXPECT_THAT(page, HasSubstr("Oct 03: 3; Oct 04: 2\""));
  fleet.events_error = "the events cannot be counted now";
  EXPECT_THAT(RenderFleet(fleet),
              HasSubstr("<p class=\"error\">the events cannot be counted"));
}

TEST(ConsoleHtmlTest, AlertRowsAndFeedJsonCarryTheSameCells) {
  policy::ComplianceAlert a;
  a.sequence = 42;
  a.emitted_at = absl::FromUnixSeconds(1'790'000'000);
  a.tenant_id = "acme";
  a.eas_device_id = "Appl<1>";
  a.user_principal = "alice@acme.example";
  a.old_action = policy::Action::kAllow;
  a.new_action = policy::Action::kQuarantine;
  a.trigger = "TRAFFIC";
  a.reasons.push_back({"ORGANIZER_REWRITE", "", "", 60});
  const std::string json = AlertFeedJson(a);
  EXPECT_THAT(json, HasSubstr("\"seq\":42"));
  EXPECT_THAT(json, HasSubstr("\"device_url\":\"/ui/device?tenant=acme&eas="
                              "Appl%3C1%3E\""));
  EXPECT_THAT(json, HasSubstr("\"new\":\"QUARANTINE\""));
  EXPECT_THAT(json, HasSubstr("\"reasons\":\"ORGANIZER_REWRITE\""));
  AlertsView view;
  view.alerts = {std::make_shared<const policy::ComplianceAlert>(a)};
  view.last = 42;
  view.tenant = "acme";
  const std::string page = RenderAlerts(view);
  EXPECT_THAT(page, HasSubstr("<code>Appl&lt;1&gt;</code>"));
  EXPECT_THAT(page, HasSubstr("data-stream=\"/ui/alerts/stream?tenant=acme&amp;"
                              "after=42\""));
  EXPECT_THAT(page, Not(HasSubstr("No alerts since")));
}

TEST(ConsoleHtmlTest, AuditRowsNameTheirActorAndTenant) {
  policy::AuditEntry e;
  e.seq = 7;
  e.kind = "exemption";
  e.record =
      R"({"actor":{"auth":"token","peer":"ipv4:10.0.0.9","principal":"sec-admin"},)"
      R"("exemption_id":"ex-1","kind":"device","operation":"put",)"
      R"("reason":"CEO's <phone>","tenant_id":"acme","value":"ApplX"})";
  const AuditRowView row = AuditRowOf(e);
  EXPECT_EQ(row.principal, "sec-admin");
  EXPECT_EQ(row.auth, "token");
  EXPECT_EQ(row.tenant, "acme");
  EXPECT_EQ(row.summary, "put exemption ex-1: device ApplX (CEO's <phone>)");
  AuditView view;
  view.rows = {row};
  view.chain.verified = true;
  view.chain.ok = false;
  view.chain.bad_seq = 5;
  view.chain.problem = "row 5's hash does not match";
  const std::string page = RenderAudit(view);
  EXPECT_THAT(page, HasSubstr("BROKEN</span> at row 5"));
  EXPECT_THAT(page, HasSubstr("CEO&#39;s &lt;phone&gt;"));
  EXPECT_THAT(page, HasSubstr("token from ipv4:10.0.0.9"));
  e.record = "not json";
  EXPECT_EQ(AuditRowOf(e).summary, "(the record is not JSON)");
}

TEST(ConsoleHtmlTest, CsvCellsCannotBecomeFormulas) {
  EXPECT_EQ(CsvCell("plain"), "\"plain\"");
  EXPECT_EQ(CsvCell("say \"hi\""), "\"say \"\"hi\"\"\"");
  for (const char* formula : {"=1+1", "+1", "-1", "@SUM(A1)", "\tx"}) {
    EXPECT_EQ(CsvCell(formula), StrCat("\"'", formula, "\""));
  }
  // A carriage return or a newline inside is no line break of the file.
  EXPECT_EQ(CsvCell("\r=x"), "\"\xEF\xBF\xBD=x\"");
  EXPECT_EQ(CsvCell("a\nb"),
            "\"a\xEF\xBF\xBD"
            "b\"");
  detector::RepairItem item;
  item.tenant_id = "acme";
  item.uid = "=HYPERLINK(\"http://x\")";
  item.true_organizer_email = "bob@example.com";
  item.subject = "-2";
  item.kinds = {detector::EventKind::kOrganizerRewrite};
  item.first_seen = absl::FromUnixSeconds(0);
  item.last_seen = absl::FromUnixSeconds(60);
  item.attendee_count = 3;
  EXPECT_EQ(RepairCsv({item}, true),
            "tenant,meeting_uid,subject,true_organizer_email,"
            "true_organizer_name,mailbox,eas_device_id,claimed_organizer_email,"
            "events,first_seen,last_seen,attendees\r\n"
            "\"acme\",\"'=HYPERLINK(\"\"http://x\"\")\",\"'-2\","
            "\"bob@example.com\",\"\",\"\",\"\",\"\",\"ORGANIZER_REWRITE\","
            "\"1970-01-01T00:00:00Z\",\"1970-01-01T00:01:00Z\",3\r\n");
}

}  // namespace
}  // namespace hijackguard::console
