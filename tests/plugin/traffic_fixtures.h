// Traffic for plugin tests: an invitation the server sends, the client's
// rewrite of it, and the ReportTrafficRequest that carries them.
#pragma once

#include <cstdint>
#include <string>

#include "detector/wbxml/xml.h"
#include "gtest/gtest.h"
#include "hijackguard/v1/traffic.pb.h"

namespace hijackguard::plugin {

inline constexpr char kUid[] =
    "040000008200E00074C5B7101A82E00800000000D0B1A2C3";

inline std::string Wbxml(const std::string& xml) {
  auto body = detector::wbxml::XmlToWbxml(xml);
  EXPECT_TRUE(body.ok()) << body.status();
  return body.ok() ? *body : std::string();
}

// The server sends an invitation from Bob for item `server_id`.
inline std::string InvitationResponse(const std::string& server_id) {
  return Wbxml(
      "<Sync xmlns=\"AirSync:\" xmlns:calendar=\"Calendar:\"><Collections>"
      "<Collection><SyncKey>2</SyncKey><CollectionId>2</CollectionId>"
      "<Status>1</Status><Commands><Add><ServerId>" +
      server_id +
      "</ServerId><ApplicationData>"
      "<calendar:UID>" +
      std::string(kUid) +
      "</calendar:UID><calendar:OrganizerEmail>bob@example.com"
      "</calendar:OrganizerEmail><calendar:MeetingStatus>3"
      "</calendar:MeetingStatus></ApplicationData></Add></Commands>"
      "</Collection></Collections></Sync>");
}

// The client rewrites item `server_id` as Alice's.
inline std::string HijackRequest(const std::string& server_id) {
  return Wbxml(
      "<Sync xmlns=\"AirSync:\" xmlns:calendar=\"Calendar:\"><Collections>"
      "<Collection><SyncKey>2</SyncKey><CollectionId>2</CollectionId>"
      "<Commands><Change><ServerId>" +
      server_id +
      "</ServerId><ApplicationData><calendar:OrganizerEmail>"
      "alice@example.com</calendar:OrganizerEmail><calendar:MeetingStatus>1"
      "</calendar:MeetingStatus></ApplicationData></Change></Commands>"
      "</Collection></Collections></Sync>");
}

inline v1::ReportTrafficRequest Exchange(std::uint64_t sequence,
                                         const std::string& device,
                                         const std::string& request_body,
                                         const std::string& response_body) {
  v1::ReportTrafficRequest r;
  r.set_tenant_id("t1");
  r.set_sequence(sequence);
  r.mutable_observed_at()->set_seconds(1350950400 +
                                       static_cast<std::int64_t>(sequence));
  v1::EasExchange* ex = r.mutable_eas_exchange();
  ex->set_method("POST");
  ex->set_target(
      "/Microsoft-Server-ActiveSync?Cmd=Sync&User=alice%40example.com"
      "&DeviceId=" +
      device + "&DeviceType=iPhone");
  (*ex->mutable_headers())["User-Agent"] = "Apple-iPhone4C1/1001.403";
  ex->set_request_body(request_body);
  ex->set_response_status(response_body.empty() ? 0 : 200);
  ex->set_response_body(response_body);
  return r;
}

}  // namespace hijackguard::plugin
