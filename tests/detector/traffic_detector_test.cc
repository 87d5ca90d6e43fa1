#include "detector/traffic/traffic_detector.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/strings.h"
#include "detector/wbxml/xml.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/builtin_catalog.h"

namespace hijackguard::detector {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kTenant[] = "acme";
constexpr char kAlice[] = "alice@example.com";  // the device's user
constexpr char kBob[] = "bob@example.com";      // the true organizer
constexpr char kIos60[] = "Apple-iPhone4C1/1001.403";
constexpr char kIos612[] = "Apple-iPhone4C1/1002.146";
constexpr char kUid[] =
    "040000008200E00074C5B7101A82E00800000000D0B1A2C3B4A5CD0100000000000000"
    "0010000000";

// A calendar item as XML inside ApplicationData.
struct Cal {
  std::string server_id = "2:14";
  std::string client_id;
  std::string uid = kUid;
  std::string organizer_email;
  std::string organizer_name;
  std::optional<int> status;
  std::vector<std::string> attendees;
};

std::string AppData(const Cal& c) {
  std::string x = "<ApplicationData>";
  if (!c.organizer_name.empty()) {
    StrAppend(&x, "<calendar:OrganizerName>", c.organizer_name,
              "</calendar:OrganizerName>");
  }
  if (!c.organizer_email.empty()) {
    StrAppend(&x, "<calendar:OrganizerEmail>", c.organizer_email,
              "</calendar:OrganizerEmail>");
  }
  StrAppend(&x, "<calendar:Subject>Budget</calendar:Subject>");
  if (!c.uid.empty()) {
    StrAppend(&x, "<calendar:UID>", c.uid, "</calendar:UID>");
  }
  if (c.status) {
    StrAppend(&x, "<calendar:MeetingStatus>", *c.status,
              "</calendar:MeetingStatus>");
  }
  if (!c.attendees.empty()) {
    x += "<calendar:Attendees>";
    for (const std::string& a : c.attendees) {
      StrAppend(&x, "<calendar:Attendee><calendar:Email>", a,
                "</calendar:Email><calendar:AttendeeType>1</"
                "calendar:AttendeeType></calendar:Attendee>");
    }
    x += "</calendar:Attendees>";
  }
  return x + "</ApplicationData>";
}

// One command in a Sync body: op is Add, Change or Delete.
std::string Command(std::string_view op, const Cal& c) {
  std::string x = StrCat("<", op, ">");
  if (!c.client_id.empty()) {
    StrAppend(&x, "<ClientId>", c.client_id, "</ClientId>");
  } else {
    StrAppend(&x, "<ServerId>", c.server_id, "</ServerId>");
  }
  if (op != "Delete") {
    x += AppData(c);
  }
  return StrCat(x, "</", op, ">");
}

std::string SyncBody(std::string_view collection, std::string_view inner,
                     std::string_view responses = {}) {
  std::string xml = StrCat(
      "<Sync xmlns=\"AirSync:\" xmlns:calendar=\"Calendar:\"><Collections>"
      "<Collection><SyncKey>7</SyncKey><CollectionId>",
      collection, "</CollectionId>");
  if (!responses.empty()) {
    StrAppend(&xml, "<Responses>", responses, "</Responses>");
  }
  if (!inner.empty()) {
    StrAppend(&xml, "<Commands>", inner, "</Commands>");
  }
  xml += "</Collection></Collections></Sync>";
  auto body = wbxml::XmlToWbxml(xml);
  EXPECT_TRUE(body.ok()) << body.status() << "\n" << xml;
  return body.ok() ? *body : std::string();
}

std::string MeetingResponseBody(std::string_view collection,
                                std::string_view request_id, int response) {
  auto body = wbxml::XmlToWbxml(StrCat(
      "<MeetingResponse xmlns=\"MeetingResponse:\"><Request><UserResponse>",
      response, "</UserResponse><CollectionId>", collection,
      "</CollectionId><RequestId>", request_id,
      "</RequestId></Request></MeetingResponse>"));
  EXPECT_TRUE(body.ok());
  return body.ok() ? *body : std::string();
}

class Harness {
 public:
  explicit Harness(std::string user_agent = kIos60,
                   DetectorOptions options = {})
      : detector_(::hijackguard::testing::BuiltinCatalog(), std::move(options)),
        user_agent_(std::move(user_agent)) {}

  // The server sent `op` for `c` (in a Sync response) at minute `t`.
  std::vector<DetectionEvent> Server(std::string_view op, const Cal& c, int t) {
    return Exchange("Sync", {}, SyncBody("2", Command(op, c)), t);
  }
  // The client sent `op` for `c` (in a Sync request) at minute `t`.
  std::vector<DetectionEvent> Client(std::string_view op, const Cal& c, int t,
                                     std::string collection = "2") {
    return Exchange("Sync", SyncBody(collection, Command(op, c)), {}, t);
  }
  std::vector<DetectionEvent> Respond(std::string_view request_id, int response,
                                      int t) {
    return Exchange("MeetingResponse",
                    MeetingResponseBody("2", request_id, response), {}, t);
  }

  std::vector<DetectionEvent> Exchange(std::string_view cmd,
                                       const std::string& request,
                                       const std::string& response, int t,
                                       std::uint64_t sequence = 0) {
    target_ = StrCat("/Microsoft-Server-ActiveSync?Cmd=", cmd, "&User=", user_,
                     "&DeviceId=ApplDMPFXZABDFHW&DeviceType=iPhone");
    EasExchangeView ex;
    ex.method = "POST";
    ex.target = target_;
    ex.headers = {{"User-Agent", user_agent_},
                  {"MS-ASProtocolVersion", "14.1"}};
    ex.request_body = request;
    ex.response_status = response.empty() ? 0 : 200;
    ex.response_body = response;
    ObservationView obs;
    obs.tenant_id = kTenant;
    obs.sequence = sequence != 0 ? sequence : ++sequence_;
    obs.observed_at = absl::FromUnixSeconds(1350000000) + absl::Minutes(t);
    obs.eas_exchange = &ex;
    ObserveResult result;
    detector_.Observe(obs, &result);
    errors_.insert(errors_.end(), result.errors.begin(), result.errors.end());
    return result.events;
  }

  TrafficDetector& detector() { return detector_; }
  const std::vector<ItemError>& errors() const { return errors_; }
  void set_user(std::string user) { user_ = std::move(user); }

 private:
  TrafficDetector detector_;
  std::string user_agent_;
  std::string user_ = kAlice;
  std::string target_;
  std::uint64_t sequence_ = 0;
  std::vector<ItemError> errors_;
};

std::vector<EventKind> Kinds(const std::vector<DetectionEvent>& events) {
  std::vector<EventKind> kinds;
  for (const DetectionEvent& e : events) {
    kinds.push_back(e.kind);
  }
  return kinds;
}

Cal Invitation() {
  Cal c;
  c.organizer_email = kBob;
  c.organizer_name = "Bob";
  c.status = 3;
  c.attendees = {kAlice, "carol@example.com"};
  return c;
}

Cal Hijacked() {
  Cal c = Invitation();
  c.organizer_email = kAlice;
  c.organizer_name = "Alice";
  c.status = 1;
  return c;
}

// --- The rules ------------------------------------------------------------

TEST(TrafficDetectorTest, OrganizerRewriteAndOwnershipClaim) {
  Harness h;
  EXPECT_THAT(h.Server("Add", Invitation(), 0), IsEmpty());
  const auto events = h.Client("Change", Hijacked(), 5);
  ASSERT_THAT(Kinds(events), ElementsAre(EventKind::kOrganizerRewrite,
                                         EventKind::kOwnershipClaim));
  const DetectionEvent& e = events[0];
  EXPECT_EQ(e.tenant_id, "acme");
  EXPECT_EQ(e.eas_device_id, "ApplDMPFXZABDFHW");
  EXPECT_EQ(e.mailbox, kAlice);
  EXPECT_EQ(e.uid, kUid);
  EXPECT_EQ(e.server_id, "2:14");
  EXPECT_EQ(e.collection_id, "2");
  EXPECT_EQ(e.command, "Change");
  EXPECT_EQ(e.organizer_email_before, kBob);
  EXPECT_EQ(e.organizer_email_after, kAlice);
  EXPECT_EQ(e.organizer_name_before, "Bob");
  EXPECT_EQ(e.meeting_status_before, 3);
  EXPECT_EQ(e.meeting_status_after, 1);
  EXPECT_EQ(e.attendee_count, 2);
  EXPECT_FALSE(e.meeting_response_preceded);
  EXPECT_EQ(e.sequence, 2u);
  EXPECT_EQ(e.observed_at,
            absl::FromUnixSeconds(1350000000) + absl::Minutes(5));
  EXPECT_THAT(h.errors(), IsEmpty());
}

// The repair list: one item per meeting a device changed against the
// server's state, with the true organizer; subjects only when kept.
TEST(TrafficDetectorTest, TheRepairListHoldsEachRewrittenMeetingOnce) {
  DetectorOptions keep;
  keep.keep_subjects = true;
  for (bool keep_subjects : {false, true}) {
    Harness h(kIos60, keep_subjects ? keep : DetectorOptions());
    h.Server("Add", Invitation(), 0);
    h.Client("Change", Hijacked(), 5);
    h.Client("Delete", Hijacked(), 9);
    Cal other = Invitation();
    other.server_id = "2:15";
    other.uid = "other-uid";
    h.Server("Add", other, 1);
    h.Client("Change", other, 3);  // unchanged organizer: no event
    auto page = h.detector().ListRepairs("acme", "", 0);
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_EQ(page->items.size(), 1u);
    EXPECT_TRUE(page->next_page_token.empty());
    const RepairItem& item = page->items[0];
    EXPECT_EQ(item.tenant_id, "acme");
    EXPECT_EQ(item.eas_device_id, "ApplDMPFXZABDFHW");
    EXPECT_EQ(item.mailbox, kAlice);
    EXPECT_EQ(item.uid, kUid);
    EXPECT_EQ(item.true_organizer_email, kBob);
    EXPECT_EQ(item.true_organizer_name, "Bob");
    EXPECT_EQ(item.claimed_organizer_email, kAlice);
    EXPECT_EQ(item.attendee_count, 2);
    EXPECT_EQ(item.first_seen,
              absl::FromUnixSeconds(1350000000) + absl::Minutes(5));
    EXPECT_EQ(item.last_seen,
              absl::FromUnixSeconds(1350000000) + absl::Minutes(9));
    EXPECT_THAT(item.kinds, ElementsAre(EventKind::kOrganizerRewrite,
                                        EventKind::kOwnershipClaim,
                                        EventKind::kAttendeeCancel));
    EXPECT_EQ(item.subject, keep_subjects ? "Budget" : "");
    // Another tenant's list is empty, a made-up token is refused, and so is
    // a page size over the limit (tokens of another tenant: the durable
    // server test).
    EXPECT_THAT(h.detector().ListRepairs("globex", "", 0)->items, IsEmpty());
    EXPECT_EQ(h.detector().ListRepairs("acme", "zz", 0).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(h.detector().ListRepairs("", "", 1001).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

struct RuleCase {
  std::string name;
  std::function<std::vector<DetectionEvent>(Harness&)> run;
  std::vector<EventKind> expected;
  std::string user_agent = kIos60;
};

class RuleTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(RuleTest, GivesExactlyTheExpectedEvents) {
  Harness h(GetParam().user_agent);
  EXPECT_THAT(Kinds(GetParam().run(h)),
              ::testing::ElementsAreArray(GetParam().expected));
  EXPECT_THAT(h.errors(), IsEmpty());
}

Cal With(Cal c, std::function<void(Cal&)> edit) {
  edit(c);
  return c;
}

const RuleCase kRuleCases[] = {
    {"RewriteOnlyAddress",
     [](Harness& h) {
       h.Server("Add", Invitation(), 0);
       return h.Client(
           "Change",
           With(Invitation(),
                [](Cal& c) { c.organizer_email = "mallory@example.com"; }),
           1);
     },
     {EventKind::kOrganizerRewrite}},
    {"RewriteComparesCaseInsensitivelyAndStripsSmtp",
     [](Harness& h) {
       h.Server("Add", Invitation(), 0);
       return h.Client(
           "Change",
           With(Invitation(),
                [](Cal& c) { c.organizer_email = "  SMTP:BOB@Example.COM "; }),
           1);
     },
     {}},
    {"OwnershipClaimOnly",
     [](Harness& h) {
       h.Server("Add", Invitation(), 0);
       return h.Client("Change",
                       With(Invitation(), [](Cal& c) { c.status = 9; }), 1);
     },
     {EventKind::kOwnershipClaim}},
    {"CancelByChange",
     [](Harness& h) {
       h.Server("Add", Invitation(), 0);
       return h.Client("Change",
                       With(Invitation(), [](Cal& c) { c.status = 7; }), 1);
     },
     {EventKind::kAttendeeCancel}},
    {"CancelAsOrganizerIsClaimAndCancel",
     [](Harness& h) {
       h.Server("Add", Invitation(), 0);
       return h.Client("Change",
                       With(Invitation(), [](Cal& c) { c.status = 5; }), 1);
     },
     {EventKind::kOwnershipClaim, EventKind::kAttendeeCancel}},
    {"DeleteWithoutDeclining",
     [](Harness& h) {
       h.Server("Add", Invitation(), 0);
       return h.Client("Delete", Invitation(), 1);
     },
     {EventKind::kAttendeeCancel}},
    {"DeleteAfterRewriteEvenWhenDeclined",
     [](Harness& h) {
       h.Server("Add", Invitation(), 0);
       h.Client("Change", Hijacked(), 1);
       h.Respond("2:14", 3, 2);
       return h.Client("Delete", Invitation(), 3);
     },
     {EventKind::kAttendeeCancel}},
    {"SuspectedSelfOrganizerWithoutLedger",
     [](Harness& h) { return h.Client("Change", Hijacked(), 1); },
     {EventKind::kSuspectedSelfOrganizer}},
    {"DisplayNameOnlyIsInformation",
     [](Harness& h) {
       h.Server("Add", Invitation(), 0);
       return h.Client(
           "Change",
           With(Invitation(), [](Cal& c) { c.organizer_name = "Robert"; }), 1);
     },
     {EventKind::kOrganizerNameChange}},
    // --- must not fire ---
    {"OrganizerEditsOwnMeeting",
     [](Harness& h) {
       const Cal own = With(Invitation(), [](Cal& c) {
         c.organizer_email = kAlice;
         c.status = 1;
         c.attendees = {kBob};
       });
       h.Server("Add", own, 0);
       return h.Client("Change", With(own, [](Cal& c) { c.status = 5; }), 1);
     },
     {}},
    {"OrganizerDeletesOwnMeeting",
     [](Harness& h) {
       const Cal own = With(Invitation(), [](Cal& c) {
         c.organizer_email = kAlice;
         c.status = 1;
       });
       h.Server("Add", own, 0);
       return h.Client("Delete", own, 1);
     },
     {}},
    {"ClientRepeatsUnchangedOrganizer",
     [](Harness& h) {
       h.Server("Add", Invitation(), 0);
       return h.Client("Change", Invitation(), 1);
     },
     {},
     "Android-Mail/7.5.3"},
    {"AttendeeAnswersThroughMeetingResponse",
     [](Harness& h) {
       h.Server("Add", Invitation(), 0);
       return h.Respond("2:14", 1, 1);
     },
     {},
     kIos612},
    {"DeclineThenDeleteIsLegitimate",
     [](Harness& h) {
       h.Server("Add", Invitation(), 0);
       h.Respond("2:14", 3, 1);
       return h.Client("Delete", Invitation(), 2);
     },
     {}},
    {"DeleteOfCancelledMeeting",
     [](Harness& h) {
       h.Server("Add", With(Invitation(), [](Cal& c) { c.status = 7; }), 0);
       return h.Client("Delete", Invitation(), 1);
     },
     {}},
    {"GhostedOrganizerAndStatus",
     [](Harness& h) {
       h.Server("Add", Invitation(), 0);
       return h.Client("Change",
                       With(Invitation(),
                            [](Cal& c) {
                              c.organizer_email.clear();
                              c.organizer_name.clear();
                              c.status.reset();
                            }),
                       1);
     },
     {}},
    {"NonCalendarCollection",
     [](Harness& h) {
       h.Server("Add", Invitation(), 0);
       // An e-mail flag change in the inbox: no Calendar fields.
       auto body = wbxml::XmlToWbxml(
           "<Sync xmlns=\"AirSync:\" xmlns:email=\"Email:\"><Collections>"
           "<Collection><SyncKey>3</SyncKey><CollectionId>5</CollectionId>"
           "<Commands><Change><ServerId>2:14</ServerId><ApplicationData>"
           "<email:Read>1</email:Read></ApplicationData></Change></Commands>"
           "</Collection></Collections></Sync>");
       return h.Exchange("Sync", *body, {}, 1);
     },
     {}},
    {"NoSuspicionWithoutHijackBuild",
     [](Harness& h) { return h.Client("Change", Hijacked(), 1); },
     {},
     kIos612},
    {"NoSuspicionWithoutOtherAttendees",
     [](Harness& h) {
       return h.Client("Change",
                       With(Hijacked(), [](Cal& c) { c.attendees = {kAlice}; }),
                       1);
     },
     {}},
    {"ClientsOwnAddThenEdit",
     [](Harness& h) {
       const Cal mine = With(Invitation(), [](Cal& c) {
         c.client_id = "c1";
         c.organizer_email = kAlice;
         c.status = 1;
       });
       h.Exchange("Sync", SyncBody("2", Command("Add", mine)),
                  SyncBody("2", {},
                           "<Add><ClientId>c1</ClientId><ServerId>2:99</"
                           "ServerId><Status>1</Status></Add>"),
                  0);
       return h.Client("Change",
                       With(mine,
                            [](Cal& c) {
                              c.client_id.clear();
                              c.server_id = "2:99";
                              c.status = 5;
                            }),
                       1);
     },
     {}},
    {"ServerRefusedTheChange",
     [](Harness& h) {
       h.Server("Add", Invitation(), 0);
       return h.Exchange("Sync", SyncBody("2", Command("Change", Hijacked())),
                         SyncBody("2", {},
                                  "<Change><ServerId>2:14</ServerId><Status>7"
                                  "</Status></Change>"),
                         1);
     },
     {}},
};

INSTANTIATE_TEST_SUITE_P(Rules, RuleTest, ::testing::ValuesIn(kRuleCases),
                         [](const auto& test_info) {
                           return test_info.param.name;
                         });

// --- Ordering, retries, memory ------------------------------------------

TEST(TrafficDetectorTest, RetriedObservationsGiveEventsOnce) {
  Harness h;
  h.Server("Add", Invitation(), 0);
  h.Server("Add", Invitation(), 0);  // the response reported twice
  const std::string change = SyncBody("2", Command("Change", Hijacked()));
  EXPECT_EQ(h.Exchange("Sync", change, {}, 5, 7).size(), 2u);
  EXPECT_THAT(h.Exchange("Sync", change, {}, 5, 7), IsEmpty());
  EXPECT_THAT(h.Exchange("Sync", change, {}, 6), IsEmpty());
  auto risk = h.detector().GetDeviceRisk(kTenant, "ApplDMPFXZABDFHW").value();
  ASSERT_TRUE(risk.has_value());
  EXPECT_EQ(risk->events.size(), 2u);
}

TEST(TrafficDetectorTest, ReorderedServerStateStillCatchesTheRewrite) {
  Harness h;
  // The client's Change is reported before the server's Add it follows.
  EXPECT_THAT(Kinds(h.Client("Change", Hijacked(), 5)),
              ElementsAre(EventKind::kSuspectedSelfOrganizer));
  EXPECT_THAT(
      Kinds(h.Server("Add", Invitation(), 0)),
      ElementsAre(EventKind::kOrganizerRewrite, EventKind::kOwnershipClaim));
  // And once only.
  EXPECT_THAT(h.Server("Add", Invitation(), 0), IsEmpty());
  EXPECT_THAT(h.Client("Change", Hijacked(), 5), IsEmpty());
}

TEST(TrafficDetectorTest, ServerStateAfterTheChangeIsNotUsedForIt) {
  Harness h("Android-Mail/7.5.3");
  EXPECT_THAT(h.Client("Change", Hijacked(), 5), IsEmpty());
  // The server's state is newer than the client's change: not comparable.
  EXPECT_THAT(h.Server("Add", Invitation(), 9), IsEmpty());
}

TEST(TrafficDetectorTest, ResponseArrivingAfterTheRequest) {
  Harness h;
  h.Server("Add", Invitation(), 0);
  // Request and response of one exchange, reported separately.
  EXPECT_EQ(
      h.Exchange("Sync", SyncBody("2", Command("Change", Hijacked())), {}, 1)
          .size(),
      2u);
  EXPECT_THAT(h.Exchange("Sync", {},
                         SyncBody("2", {},
                                  "<Change><ServerId>2:14</ServerId><Status>1"
                                  "</Status></Change>"),
                         1),
              IsEmpty());
}

TEST(TrafficDetectorTest, ServerEchoOfTheRewriteKeepsTheTrueOrganizer) {
  Harness h;
  h.Server("Add", Invitation(), 0);
  h.Client("Change", Hijacked(), 1);
  // Exchange accepted the rewrite and syncs it back.
  h.Server("Change", Hijacked(), 2);
  const auto events = h.Client("Delete", Invitation(), 3);
  ASSERT_THAT(Kinds(events), ElementsAre(EventKind::kAttendeeCancel));
  EXPECT_EQ(events[0].organizer_email_before, kBob);
  auto risk = h.detector().GetDeviceRisk(kTenant, "ApplDMPFXZABDFHW").value();
  ASSERT_EQ(risk->meetings.size(), 1u);
  EXPECT_EQ(risk->meetings[0].true_organizer_email, kBob);
  EXPECT_EQ(risk->meetings[0].claimed_organizer_email, kAlice);
  EXPECT_EQ(risk->meetings[0].uid, kUid);
}

TEST(TrafficDetectorTest, MeetingResponseBeforeTheChangeIsRecorded) {
  Harness h;
  h.Server("Add", Invitation(), 0);
  h.Respond("2:14", 1, 2);
  const auto events = h.Client("Change", Hijacked(), 12);
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(events[0].meeting_response_preceded);
  EXPECT_EQ(events[0].meeting_response_age, absl::Minutes(10));
  EXPECT_EQ(events[0].meeting_response, 1);
}

TEST(TrafficDetectorTest, LedgerEvictionForgetsTheOldestMeetings) {
  DetectorOptions options;
  options.ledger.max_entries = 2;
  Harness h(kIos612, options);
  for (int i = 0; i < 3; ++i) {
    h.Server("Add",
             With(Invitation(), [&](Cal& c) { c.server_id = StrCat("2:", i); }),
             i);
  }
  EXPECT_EQ(h.detector().stats().ledger_entries, 2u);
  EXPECT_EQ(h.detector().stats().ledger_evictions, 1u);
  // 2:0 was evicted: its rewrite is not comparable any more.
  EXPECT_THAT(
      h.Client("Change", With(Hijacked(), [](Cal& c) { c.server_id = "2:0"; }),
               5),
      IsEmpty());
  EXPECT_THAT(
      Kinds(h.Client("Change",
                     With(Hijacked(), [](Cal& c) { c.server_id = "2:2"; }), 5)),
      ElementsAre(EventKind::kOrganizerRewrite, EventKind::kOwnershipClaim));
}

TEST(TrafficDetectorTest, LedgerTimeToLive) {
  DetectorOptions options;
  options.ledger.ttl = absl::Hours(1);
  Harness h(kIos612, options);
  h.Server("Add", Invitation(), 0);
  EXPECT_THAT(h.Client("Change", Hijacked(), 61), IsEmpty());
}

TEST(TrafficDetectorTest, PendingChangesAreBoundedAndExpire) {
  DetectorOptions options;
  options.max_pending = 1;
  options.pending_ttl = absl::Minutes(30);
  Harness h(kIos612, options);
  h.Client("Change", Hijacked(), 0);
  EXPECT_EQ(h.detector().stats().pending, 1u);
  // Full: a second waiting change is dropped, however soon it comes...
  h.Client("Change", With(Hijacked(), [](Cal& c) { c.server_id = "2:2"; }), 1);
  h.Client("Change", With(Hijacked(), [](Cal& c) { c.server_id = "2:4"; }), 1);
  EXPECT_EQ(h.detector().stats().pending, 1u);
  EXPECT_EQ(h.detector().stats().pending_dropped, 2u);
  // ...until the first has waited past its time.
  h.Client("Change", With(Hijacked(), [](Cal& c) { c.server_id = "2:3"; }), 60);
  EXPECT_EQ(h.detector().stats().pending, 1u);
  EXPECT_EQ(h.detector().stats().pending_dropped, 3u);
  EXPECT_THAT(
      Kinds(h.Server(
          "Add", With(Invitation(), [](Cal& c) { c.server_id = "2:3"; }), 59)),
      ElementsAre(EventKind::kOrganizerRewrite, EventKind::kOwnershipClaim));
}

TEST(TrafficDetectorTest, InformationalFloodCannotDisplaceConfirmedEvents) {
  DetectorOptions options;
  options.max_events_per_device = 3;
  Harness h(kIos60, options);
  h.Server("Add", Invitation(), 0);
  h.Client("Change", Hijacked(), 1);
  for (int i = 0; i < 10; ++i) {
    const std::string sid = StrCat("2:", 100 + i);
    h.Server("Add", With(Invitation(), [&](Cal& c) { c.server_id = sid; }), 2);
    h.Client("Change",
             With(Invitation(),
                  [&](Cal& c) {
                    c.server_id = sid;
                    c.organizer_name = StrCat("Bob ", i);
                  }),
             3);
  }
  const auto confirmed =
      h.detector().ConfirmedEvents(kTenant, "ApplDMPFXZABDFHW", 10).value();
  EXPECT_EQ(confirmed.total, 2u);
  EXPECT_THAT(Kinds(confirmed.events), ElementsAre(EventKind::kOrganizerRewrite,
                                                   EventKind::kOwnershipClaim));
}

TEST(TrafficDetectorTest, OneObservationReportsAtMost256Events) {
  Harness h;
  std::string adds;
  std::string changes;
  for (int i = 0; i < 300; ++i) {
    const std::string sid = StrCat("2:", i);
    adds +=
        Command("Add", With(Invitation(), [&](Cal& c) { c.server_id = sid; }));
    changes +=
        Command("Change", With(Hijacked(), [&](Cal& c) { c.server_id = sid; }));
  }
  h.Exchange("Sync", {}, SyncBody("2", adds), 0);
  EasExchangeView ex;
  const std::string body = SyncBody("2", changes);
  const std::string target =
      "/Microsoft-Server-ActiveSync?Cmd=Sync&User=alice%40example.com"
      "&DeviceId=ApplDMPFXZABDFHW&DeviceType=iPhone";
  ex.target = target;
  ex.request_body = body;
  ObservationView obs;
  obs.tenant_id = kTenant;
  obs.observed_at = absl::FromUnixSeconds(1350000000) + absl::Minutes(1);
  obs.eas_exchange = &ex;
  ObserveResult result;
  h.detector().Observe(obs, &result);
  EXPECT_EQ(result.events.size(), 256u);
  EXPECT_EQ(result.events_dropped, 600u - 256u);  // two kinds per meeting
  // All of them are recorded.
  EXPECT_EQ(h.detector().ConfirmedEvents(kTenant, "ApplDMPFXZABDFHW", 1)->total,
            600u);
}

TEST(TrafficDetectorTest, ARecreatedMeetingIsJudgedAfresh) {
  Harness h;
  h.Server("Add", Invitation(), 0);
  EXPECT_EQ(h.Client("Change", Hijacked(), 1).size(), 2u);
  h.Server("Delete", Invitation(), 2);
  h.Server("Add", Invitation(), 3);
  EXPECT_EQ(h.Client("Change", Hijacked(), 4).size(), 2u);
}

TEST(TrafficDetectorTest, LateReportIsNotJudgedByANewerState) {
  Harness h("Android-Mail/7.5.3");
  h.Server("Add", Invitation(), 10);
  EXPECT_THAT(h.Client("Change", Hijacked(), 5), IsEmpty());
}

TEST(TrafficDetectorTest, FullDeviceTableForgetsIdleDevicesWithoutEvents) {
  DetectorOptions options;
  options.max_devices = 2;
  TrafficDetector d(::hijackguard::testing::BuiltinCatalog(), options);
  auto change = [&](std::string_view device, std::string_view status_after,
                    int minute) {
    CalendarChangeView c;
    c.eas_device_id = device;
    c.user = kAlice;
    c.collection_id = "2";
    c.server_id = "2:14";
    c.organizer_email_before = kBob;
    c.organizer_email_after = status_after == "1" ? kAlice : kBob;
    c.meeting_status_before = 3;
    c.meeting_status_after = status_after == "1" ? 1 : 3;
    c.command = "Change";
    ObservationView obs;
    obs.tenant_id = kTenant;
    obs.observed_at = absl::FromUnixSeconds(1350000000) + absl::Minutes(minute);
    obs.calendar_change = &c;
    ObserveResult r;
    d.Observe(obs, &r);
    return r;
  };
  change("hijacker", "1", 0);  // confirmed events: never forgotten
  change("quiet", "3", 1);
  const ObserveResult r = change("newcomer", "3", 2);
  EXPECT_THAT(r.errors, IsEmpty());
  EXPECT_EQ(d.stats().devices, 2u);
  EXPECT_EQ(d.stats().devices_evicted, 1u);
  EXPECT_TRUE(d.GetDeviceRisk(kTenant, "hijacker").value().has_value());
  EXPECT_FALSE(d.GetDeviceRisk(kTenant, "quiet").value().has_value());
}

TEST(TrafficDetectorTest, ParsedAddDoesNotAdoptTheServersMeeting) {
  TrafficDetector d(::hijackguard::testing::BuiltinCatalog());
  ObservationView obs;
  obs.tenant_id = kTenant;
  obs.observed_at = absl::FromUnixSeconds(1350000000);
  CalendarChangeView c;
  c.eas_device_id = "X";
  c.user = kAlice;
  c.collection_id = "2";
  c.server_id = "2:14";
  c.organizer_email_before = kBob;
  c.meeting_status_before = 3;
  c.organizer_email_after = kBob;
  c.meeting_status_after = 3;
  c.command = "Change";
  obs.calendar_change = &c;
  ObserveResult r;
  d.Observe(obs, &r);  // the server's state, via the MDM
  c.command = "Add";   // a bogus Add of the same item
  c.organizer_email_before = {};
  c.meeting_status_before.reset();
  c.organizer_email_after = kAlice;
  c.meeting_status_after = 1;
  d.Observe(obs, &r);
  c.command = "Change";
  r.Clear();
  d.Observe(obs, &r);
  EXPECT_THAT(Kinds(r.events), ElementsAre(EventKind::kOrganizerRewrite,
                                           EventKind::kOwnershipClaim));
}

TEST(TrafficDetectorTest, CheckInAddressesAndAliasesMakeTheOwner) {
  DetectorOptions options;
  options.aliases["acme"]["alice@example.com"] = {"a.smith@example.com"};
  Harness h(kIos60, options);
  h.set_user("EXAMPLE\\alice");  // no address in User
  CheckInFacts facts;
  facts.tenant_id = kTenant;
  facts.eas_device_id = "ApplDMPFXZABDFHW";
  facts.primary_smtp_address = kAlice;
  h.detector().RecordCheckIn(facts);
  EXPECT_THAT(Kinds(h.Client("Change",
                             With(Hijacked(),
                                  [](Cal& c) {
                                    c.organizer_email = "A.Smith@example.com";
                                  }),
                             1)),
              ElementsAre(EventKind::kSuspectedSelfOrganizer));
}

// A Settings answer (UserInformation) with the mailbox's addresses.
std::string SettingsAnswer(bool with_accounts) {
  const std::string addresses =
      with_accounts
          ? "<Accounts><Account><EmailAddresses>"
            "<PrimarySmtpAddress>pat@example.com</PrimarySmtpAddress>"
            "<SmtpAddress>p.jones@example.com</SmtpAddress>"
            "</EmailAddresses></Account></Accounts>"
          : "<EmailAddresses><SmtpAddress>pat@example.com</SmtpAddress>"
            "<SmtpAddress>p.jones@example.com</SmtpAddress></EmailAddresses>";
  auto body = wbxml::XmlToWbxml(StrCat(
      R"(<Settings xmlns="Settings:"><Status>1</Status><UserInformation>)"
      "<Status>1</Status><Get>",
      addresses, "</Get></UserInformation></Settings>"));
  EXPECT_TRUE(body.ok()) << body.status();
  return body.value_or("");
}

TEST(TrafficDetectorTest, SettingsTellsWhoOwnsTheMailbox) {
  for (bool with_accounts : {false, true}) {
    SCOPED_TRACE(with_accounts ? "14.1 Accounts" : "14.0 EmailAddresses");
    Harness h(kIos60);
    h.set_user("pat");  // a short name: no address in User
    auto hijack = With(
        Hijacked(), [](Cal& c) { c.organizer_email = "P.Jones@example.com"; });
    EXPECT_THAT(h.Client("Change", hijack, 1), IsEmpty());
    EXPECT_THAT(h.Exchange("Settings", {}, SettingsAnswer(with_accounts), 2),
                IsEmpty());
    EXPECT_THAT(Kinds(h.Client("Change", hijack, 3)),
                ElementsAre(EventKind::kSuspectedSelfOrganizer));
    auto risk = h.detector().GetDeviceRisk(kTenant, "ApplDMPFXZABDFHW").value();
    ASSERT_TRUE(risk.has_value());
    EXPECT_EQ(risk->facts.primary_smtp_address,
              with_accounts ? "pat@example.com" : "");
  }
}

TEST(TrafficDetectorTest, InvalidInputBecomesItemErrors) {
  Harness h;
  std::string body = SyncBody("2", Command("Change", Hijacked()));
  body.resize(body.size() / 2);
  EXPECT_THAT(h.Exchange("Sync", body, {}, 1), IsEmpty());
  ASSERT_EQ(h.errors().size(), 1u);
  EXPECT_EQ(h.errors()[0].code, "UNDECODABLE_BODY");
  EXPECT_EQ(h.errors()[0].field, "eas_exchange.request_body");
  EXPECT_THAT(h.errors()[0].message, ::testing::HasSubstr("at byte"));

  TrafficDetector& d = h.detector();
  EasExchangeView ex;
  ex.target = "/Microsoft-Server-ActiveSync?Cmd=Sync&User=a&DeviceType=iPhone";
  ObservationView obs;
  obs.tenant_id = kTenant;
  obs.eas_exchange = &ex;
  ObserveResult result;
  d.Observe(obs, &result);
  ASSERT_FALSE(result.errors.empty());
  EXPECT_EQ(result.errors.back().code, "MISSING_DEVICE_ID");

  CalendarChangeView change;
  change.eas_device_id = "X";
  change.user = kAlice;
  change.server_id = "1";
  change.command = "Move";
  obs.eas_exchange = nullptr;
  obs.calendar_change = &change;
  result.Clear();
  d.Observe(obs, &result);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].code, "INVALID_COMMAND");
}

TEST(TrafficDetectorTest, ParsedCalendarChanges) {
  TrafficDetector d(::hijackguard::testing::BuiltinCatalog());
  CalendarChangeView c;
  c.eas_device_id = "androidc123";
  c.user = kAlice;
  c.collection_id = "2";
  c.server_id = "2:14";
  c.uid = "abc";
  c.organizer_email_before = kBob;
  c.organizer_email_after = kAlice;
  c.meeting_status_before = 3;
  c.meeting_status_after = 1;
  c.attendee_count = 2;
  c.command = "Change";
  ObservationView obs;
  obs.tenant_id = kTenant;
  obs.sequence = 1;
  obs.observed_at = absl::FromUnixSeconds(1350000000);
  obs.calendar_change = &c;
  ObserveResult result;
  d.Observe(obs, &result);
  EXPECT_THAT(Kinds(result.events), ElementsAre(EventKind::kOrganizerRewrite,
                                                EventKind::kOwnershipClaim));
  // An Android client repeating the organizer: nothing.
  c.server_id = "2:15";
  c.organizer_email_after = kBob;
  c.meeting_status_after = 3;
  result.Clear();
  d.Observe(obs, &result);
  EXPECT_THAT(result.events, IsEmpty());
  const auto confirmed = d.ConfirmedEvents(kTenant, "androidc123", 10).value();
  EXPECT_EQ(confirmed.events.size(), 2u);
  EXPECT_EQ(confirmed.total, 2u);
}

// --- The ledger -------------------------------------------------------------

TEST(MeetingLedgerTest, StoresPackedHexAndRawUids) {
  MeetingLedger ledger;
  const absl::Time t = absl::FromUnixSeconds(100);
  for (std::string uid : {std::string(kUid), std::string("abcdef"),
                          std::string("9C5A2B4E-1F2D-4E7A-9B1C-0D2E3F4A5B6C"),
                          std::string("AbCd"), std::string("ABC")}) {
    LedgerKey key{"t", "m", "2", uid};
    ASSERT_EQ(ledger.Put(key, MeetingFacts{uid, "o@x", "O", 3, 1}, t),
              MeetingLedger::PutResult::kInserted);
    auto got = ledger.Find(key, t);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->uid, uid);
    EXPECT_EQ(got->organizer_email, "o@x");
    EXPECT_EQ(got->organizer_name, "O");
    EXPECT_EQ(got->meeting_status, 3);
  }
}

TEST(MeetingLedgerTest, StaleUnchangedAndTooLarge) {
  MeetingLedger ledger;
  const LedgerKey key{"t", "m", "2", "2:1"};
  const MeetingFacts facts{"u", "o@x", "", 3, 0};
  const absl::Time t = absl::FromUnixSeconds(100);
  EXPECT_EQ(ledger.Put(key, facts, t), MeetingLedger::PutResult::kInserted);
  EXPECT_EQ(ledger.Put(key, facts, t), MeetingLedger::PutResult::kUnchanged);
  EXPECT_EQ(ledger.Put(key, facts, t - absl::Seconds(1)),
            MeetingLedger::PutResult::kStale);
  EXPECT_EQ(ledger.Find(key, t)->version, 1u);
  const std::string big(MeetingLedger::kMaxIdBytes + 1, 'x');
  EXPECT_EQ(ledger.Put(LedgerKey{"t", "m", "2", big}, facts, t),
            MeetingLedger::PutResult::kTooLarge);
  EXPECT_TRUE(ledger.Remove(key));
  EXPECT_FALSE(ledger.Find(key, t).has_value());
  EXPECT_EQ(ledger.size(), 0u);
}

}  // namespace
}  // namespace hijackguard::detector
