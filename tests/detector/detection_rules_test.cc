// The rules alone, without a detector: each row is a client command, the
// server's state of its meeting, and what the rules must find.
#include "detector/traffic/detection_rules.h"

#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hijackguard::detector {
namespace {

using Operation = eas::CalendarItem::Operation;
using ::testing::ElementsAreArray;

constexpr std::string_view kAlice = "alice@example.com";  // the mailbox
constexpr std::string_view kBob = "bob@example.com";      // another person
const absl::Time kT0 = absl::FromUnixSeconds(1'350'000'000);

MeetingSnapshot ServerState(std::string_view organizer,
                            std::optional<int> status) {
  MeetingSnapshot s;
  s.uid = "uid-1";
  s.organizer_email = std::string(organizer);
  s.organizer_name = "Bob";
  s.meeting_status = status;
  s.attendee_count = 3;
  s.updated_at = kT0;
  s.version = 7;
  return s;
}

struct Row {
  const char* name;
  Operation op;
  std::string_view organizer_after;
  std::optional<int> status_after;
  std::optional<MeetingSnapshot> before;
  bool hijack_fingerprint;
  std::vector<EventKind> want;
  bool want_wait;
};

std::vector<EventKind> Kinds(const Judgement& j) {
  std::vector<EventKind> kinds;
  for (const Finding& f : j.findings) kinds.push_back(f.kind);
  return kinds;
}

TEST(DetectionRulesTest, JudgesEachCommandAgainstTheServerState) {
  const std::vector<Row> rows = {
      {"rewrite of an invited meeting",
       Operation::kChange,
       kAlice,
       1,
       ServerState(kBob, 3),
       false,
       {EventKind::kOrganizerRewrite, EventKind::kOwnershipClaim},
       false},
      {"the organizer edits their own meeting",
       Operation::kChange,
       kAlice,
       1,
       ServerState(kAlice, 1),
       false,
       {},
       false},
      {"attendee cancels by Change",
       Operation::kChange,
       kBob,
       7,
       ServerState(kBob, 3),
       false,
       {EventKind::kAttendeeCancel},
       false},
      {"attendee deletes without declining",
       Operation::kDelete,
       "",
       {},
       ServerState(kBob, 3),
       false,
       {EventKind::kAttendeeCancel},
       false},
      {"delete of a cancelled meeting",
       Operation::kDelete,
       "",
       {},
       ServerState(kBob, 7),
       false,
       {},
       false},
      {"no server state, hijack-prone client names itself",
       Operation::kChange,
       kAlice,
       1,
       std::nullopt,
       true,
       {EventKind::kSuspectedSelfOrganizer},
       true},
      {"no server state, a fixed client",
       Operation::kChange,
       kAlice,
       1,
       std::nullopt,
       false,
       {},
       true},
      {"no server state, a Delete",
       Operation::kDelete,
       "",
       {},
       std::nullopt,
       true,
       {},
       false},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    ClientItem item;
    item.op = row.op;
    item.collection_id = "2";
    item.server_id = "2:1";
    item.uid = "uid-1";
    item.organizer_email = row.organizer_after;
    item.meeting_status = row.status_after;
    item.attendee_count = 2;
    item.has_calendar_data = true;
    item.at = kT0 + absl::Minutes(1);
    const Mailbox mailbox{kAlice, nullptr, nullptr};
    const Judgement j = JudgeClientItem(item, row.before, mailbox, {},
                                        [&] { return row.hijack_fingerprint; });
    EXPECT_THAT(Kinds(j), ElementsAreArray(row.want));
    EXPECT_EQ(j.wait_for_server, row.want_wait);
  }
}

TEST(DetectionRulesTest, AServerStateNewerThanTheCommandDoesNotJudgeIt) {
  ClientItem item;
  item.op = Operation::kChange;
  item.server_id = "2:1";
  item.organizer_email = kAlice;
  item.has_calendar_data = true;
  item.at = kT0 - absl::Minutes(1);  // before the state on record
  const Judgement j =
      JudgeClientItem(item, ServerState(kBob, 3), {kAlice, nullptr, nullptr},
                      {}, [] { return true; });
  EXPECT_TRUE(j.findings.empty());
  EXPECT_FALSE(j.wait_for_server);
}

TEST(DetectionRulesTest, ADeclinedMeetingMayBeDeleted) {
  ClientItem item;
  item.op = Operation::kDelete;
  item.collection_id = "2";
  item.server_id = "2:1";
  item.at = kT0 + absl::Minutes(2);
  MeetingResponseRecord declined;
  declined.collection_id = "2";
  declined.request_id = "2:1";
  declined.user_response = 3;
  declined.at = kT0 + absl::Minutes(1);
  const std::vector<MeetingResponseRecord> responses = {declined};
  const Mailbox mailbox{kAlice, nullptr, nullptr};
  EXPECT_TRUE(
      JudgeClientItem(item, ServerState(kBob, 3), mailbox, responses, [] {
        return false;
      }).findings.empty());
  // After a rewrite the same Delete cancels for everyone.
  MeetingSnapshot disputed = ServerState(kBob, 3);
  disputed.disputed = true;
  EXPECT_THAT(Kinds(JudgeClientItem(item, disputed, mailbox, responses,
                                    [] { return false; })),
              ElementsAreArray({EventKind::kAttendeeCancel}));
}

TEST(DetectionRulesTest, OwnersAreTheUserTheDeviceAndTheTenantsAliases) {
  TrackedDevice device;
  device.facts.primary_smtp_address = "SMTP:Pat@Example.com";
  device.addresses = {"p.smith@example.com"};
  const TenantAliases aliases = {{"pat@example.com", {"ps@example.net"}}};
  const Mailbox mailbox{"pat@corp.example", &device, &aliases};
  EXPECT_TRUE(IsOwner(mailbox, "pat@corp.example"));
  EXPECT_TRUE(IsOwner(mailbox, "pat@example.com"));
  EXPECT_TRUE(IsOwner(mailbox, "p.smith@example.com"));
  EXPECT_TRUE(IsOwner(mailbox, "ps@example.net"));
  EXPECT_FALSE(IsOwner(mailbox, "bob@example.com"));
  EXPECT_FALSE(IsOwner(mailbox, ""));
  const Mailbox bare{"pat@corp.example", nullptr, nullptr};
  EXPECT_FALSE(IsOwner(bare, "ps@example.net"));
}

// Who a rewritten meeting reaches is who the server invited: a Change that
// leaves the attendees out (ghosting) still counts them.
TEST(DetectionRulesTest, AnEventCountsTheAttendeesTheServerSent) {
  TrackedDevice device;
  ItemContext ctx;
  ctx.tenant = "t";
  ctx.mailbox = std::string(kAlice);
  ctx.device = &device;
  ClientItem item;
  item.op = Operation::kChange;
  item.server_id = "2:1";
  item.organizer_email = kAlice;
  item.attendee_count = 0;  // omitted by the client
  item.at = kT0 + absl::Minutes(1);
  const MeetingSnapshot before = ServerState(kBob, 3);  // 3 attendees
  EXPECT_EQ(MakeEvent(ctx, item, EventKind::kOrganizerRewrite, &before, "x",
                      absl::Minutes(5))
                .attendee_count,
            3);
  item.op = Operation::kDelete;
  EXPECT_EQ(MakeEvent(ctx, item, EventKind::kAttendeeCancel, &before, "x",
                      absl::Minutes(5))
                .attendee_count,
            3);
  item.op = Operation::kAdd;
  item.attendee_count = 4;
  EXPECT_EQ(MakeEvent(ctx, item, EventKind::kSuspectedSelfOrganizer, nullptr,
                      "x", absl::Minutes(5))
                .attendee_count,
            4)
      << "no server state: the client's count";
}

}  // namespace
}  // namespace hijackguard::detector
