// The console's rendering (plugin/console/): escaping, links, charts and the
// frame, without a server.
#include "common/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
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
