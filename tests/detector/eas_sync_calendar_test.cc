#include "detector/eas/sync_calendar.h"
#include "detector/wbxml/xml.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/detector/wbxml_test_util.h"

namespace hijackguard::detector::eas {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string Body(const std::string& corpus_name) {
  return *wbxml::XmlToWbxml(wbxml::testing::ReadCorpus(
      wbxml::testing::CorpusDir() + "/" + corpus_name));
}

TEST(SyncCalendarTest, ClientChangeWithOrganizerAndAttendees) {
  const std::string body = Body("sync_request_calendar_change_organizer.xml");
  SyncCalendarScan scan;
  ScanSyncCalendar(body, &scan);
  EXPECT_TRUE(scan.is_sync);
  EXPECT_THAT(scan.issues, IsEmpty());
  ASSERT_EQ(scan.items.size(), 1u);
  const CalendarItem& item = scan.items[0];
  EXPECT_EQ(item.operation, CalendarItem::Operation::kChange);
  EXPECT_FALSE(item.in_responses);
  EXPECT_EQ(item.collection_id, "2");
  EXPECT_EQ(item.server_id, "2:14");
  EXPECT_TRUE(item.has_calendar_data);
  EXPECT_EQ(item.organizer_email, "bob@example.com");
  EXPECT_EQ(item.organizer_name, "Bob Attendee");
  EXPECT_EQ(item.meeting_status, 1);
  EXPECT_EQ(item.subject, "Q4 planning <all hands>");
  EXPECT_TRUE(item.has_attendees);
  EXPECT_EQ(item.attendee_count, 2);
  EXPECT_THAT(scan.AttendeeEmails(item),
              ElementsAre("alice@example.com", "carol@example.com"));
  EXPECT_EQ(item.uid.substr(0, 8), "04000000");
}

TEST(SyncCalendarTest, ServerAddIgnoresExceptionFields) {
  const std::string body = Body("sync_response_calendar_add_exceptions.xml");
  SyncCalendarScan scan;
  ScanSyncCalendar(body, &scan);
  ASSERT_EQ(scan.items.size(), 1u);
  const CalendarItem& item = scan.items[0];
  EXPECT_EQ(item.operation, CalendarItem::Operation::kAdd);
  EXPECT_EQ(item.subject, "Weekly sync") << "not the exception's subject";
  EXPECT_EQ(item.start_time, "20121024T150000Z");
  EXPECT_EQ(item.organizer_email, "alice@example.com");
  EXPECT_EQ(item.meeting_status, 3);
  EXPECT_EQ(item.attendee_count, 2);
}

TEST(SyncCalendarTest, DeleteAndNonSyncBodies) {
  SyncCalendarScan scan;
  const std::string delete_body = Body("sync_request_calendar_delete.xml");
  ScanSyncCalendar(delete_body, &scan);
  ASSERT_EQ(scan.items.size(), 1u);
  EXPECT_EQ(scan.items[0].operation, CalendarItem::Operation::kDelete);
  EXPECT_EQ(scan.items[0].server_id, "2:14");
  EXPECT_FALSE(scan.items[0].has_calendar_data);

  const std::string response_body = Body("meeting_response_instance.xml");
  ScanSyncCalendar(response_body, &scan);
  EXPECT_FALSE(scan.is_sync);
  EXPECT_THAT(scan.items, IsEmpty());
}

TEST(SyncCalendarTest, ResponsesAndBadInput) {
  auto body =
      wbxml::XmlToWbxml(R"(<Sync xmlns="AirSync:"><Collections><Collection>
      <SyncKey>2</SyncKey><CollectionId>7</CollectionId>
      <Responses><Add><ClientId>c1</ClientId><ServerId>7:1</ServerId><Status>1</Status></Add>
      </Responses></Collection></Collections></Sync>)");
  ASSERT_TRUE(body.ok());
  SyncCalendarScan scan;
  ScanSyncCalendar(*body, &scan);
  ASSERT_EQ(scan.items.size(), 1u);
  EXPECT_TRUE(scan.items[0].in_responses);
  EXPECT_EQ(scan.items[0].client_id, "c1");
  EXPECT_EQ(scan.items[0].status, "1");
  EXPECT_EQ(scan.items[0].collection_id, "7");

  const std::string cut = body->substr(0, body->size() - 3);
  ScanSyncCalendar(cut, &scan);
  EXPECT_FALSE(scan.issues.empty()) << "a cut body is reported";
}

}  // namespace
}  // namespace hijackguard::detector::eas
