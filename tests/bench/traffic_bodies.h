// Realistic calendar Sync bodies for the traffic benchmarks: an Exchange
// meeting (hex UID, time zone blob, attendees) as the server sends it, and
// the client's Change of it, about 2 KiB of WBXML.
#pragma once

#include <string>

#include "detector/wbxml/xml.h"

namespace hijackguard::bench {

inline constexpr char kBenchTimezone[] =
    "LAEAAEUAUwBUAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAsAAAABAAIAAA"
    "AAAAAAAAAAAEUARABUAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAMAAAAC"
    "AAIAAAAAAAAAxP///w==";

// A hex UID like Exchange's, distinct per `n`.
inline std::string BenchUid(long n) {
  static const char* hex = "0123456789ABCDEF";
  std::string uid = "040000008200E00074C5B7101A82E00800000000";
  for (int i = 0; i < 16; ++i) {
    uid.push_back(hex[(n >> (4 * (i % 8))) & 0xF]);
  }
  uid += "000000000000000010000000";
  while (uid.size() < 112) {
    uid.push_back(hex[(n + static_cast<long>(uid.size())) & 0xF]);
  }
  return uid;
}

// <ApplicationData> of a meeting Bob organizes with `attendees` attendees.
inline std::string BenchAppData(const std::string& uid,
                                const std::string& organizer, int status,
                                int attendees) {
  std::string x = "<ApplicationData><calendar:Timezone>";
  x += kBenchTimezone;
  x += "</calendar:Timezone><calendar:AllDayEvent>0</calendar:AllDayEvent>"
       "<calendar:BusyStatus>2</calendar:BusyStatus><calendar:OrganizerName>"
       "Bob Organizer</calendar:OrganizerName><calendar:OrganizerEmail>";
  x += organizer;
  x += "</calendar:OrganizerEmail><calendar:DtStamp>20121023T144500Z"
       "</calendar:DtStamp><calendar:EndTime>20121024T160000Z"
       "</calendar:EndTime><calendar:Location>Building 4, room 4.12 "
       "(Columbus)</calendar:Location><calendar:Reminder>15</calendar:Reminder>"
       "<calendar:Sensitivity>0</calendar:Sensitivity><calendar:Subject>"
       "Q4 planning: budget review and hiring plan</calendar:Subject>"
       "<calendar:StartTime>20121024T150000Z</calendar:StartTime>"
       "<calendar:UID>";
  x += uid;
  x += "</calendar:UID><calendar:MeetingStatus>" + std::to_string(status) +
       "</calendar:MeetingStatus><calendar:Attendees>";
  for (int i = 0; i < attendees; ++i) {
    x += "<calendar:Attendee><calendar:Email>attendee" + std::to_string(i) +
         "@example.com</calendar:Email><calendar:Name>Attendee Number " +
         std::to_string(i) +
         "</calendar:Name><calendar:AttendeeStatus>5</calendar:AttendeeStatus>"
         "<calendar:AttendeeType>1</calendar:AttendeeType></calendar:Attendee>";
  }
  return x + "</calendar:Attendees></ApplicationData>";
}

inline std::string BenchSync(const std::string& command, bool response) {
  std::string xml =
      "<Sync xmlns=\"AirSync:\" xmlns:calendar=\"Calendar:\"><Collections>"
      "<Collection><SyncKey>1937474263</SyncKey><CollectionId>2"
      "</CollectionId>";
  if (response) {
    xml += "<Status>1</Status>";
  }
  xml +=
      "<Commands>" + command + "</Commands></Collection></Collections></Sync>";
  return *detector::wbxml::XmlToWbxml(xml);
}

// The server's Add of meeting `server_id` (MeetingStatus 3, from Bob).
inline std::string BenchServerAdd(const std::string& server_id, long n) {
  return BenchSync("<Add><ServerId>" + server_id + "</ServerId>" +
                       BenchAppData(BenchUid(n), "bob@example.com", 3, 26) +
                       "</Add>",
                   true);
}

// The client's Change of it: same organizer (no event), about 2 KiB.
inline std::string BenchClientChange(const std::string& server_id, long n) {
  return BenchSync("<Change><ServerId>" + server_id + "</ServerId>" +
                       BenchAppData(BenchUid(n), "bob@example.com", 3, 26) +
                       "</Change>",
                   false);
}

}  // namespace hijackguard::bench
