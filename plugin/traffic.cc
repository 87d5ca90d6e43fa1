#include "plugin/traffic.h"

#include <algorithm>
#include <list>
#include <tuple>

#include "common/gzip.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "plugin/convert.h"
#include "plugin/policy_convert.h"
#include "plugin/validate.h"

namespace hijackguard::plugin {
namespace {

using google::protobuf::Int32Value;

// How far ahead of the server's clock observed_at may be.
constexpr absl::Duration kMaxClockSkew = absl::Hours(1);

void AddError(v1::TrafficAck* ack, std::string_view code,
              std::string_view field, std::string_view message) {
  v1::ItemError* e = ack->add_errors();
  e->set_code(std::string(code));
  e->set_field(std::string(field));
  e->set_message(std::string(message));
}

std::optional<int> OptionalInt(bool has, const Int32Value& v) {
  return has ? std::optional<int>(v.value()) : std::nullopt;
}

void SetStatus(const std::optional<int>& status, Int32Value* out) {
  if (status) {
    out->set_value(*status);
  }
}

// The limits a request must meet before the detector sees it. False (with
// the first violation added to `ack`) when one is not met.
bool CheckLimits(const v1::ReportTrafficRequest& r, v1::TrafficAck* ack) {
  if (r.has_eas_exchange()) {
    const v1::EasExchange& ex = r.eas_exchange();
    if (ex.target().size() > kMaxTargetBytes) {
      AddError(ack, "INVALID_ARGUMENT", "eas_exchange.target",
               StrCat(ex.target().size(), " bytes exceeds the limit of ",
                      kMaxTargetBytes));
      return false;
    }
    if (static_cast<std::size_t>(ex.headers_size()) > kMaxHeaders) {
      AddError(ack, "INVALID_ARGUMENT", "eas_exchange.headers",
               StrCat(ex.headers_size(), " headers exceeds the limit of ",
                      kMaxHeaders));
      return false;
    }
    for (const auto& [name, value] : ex.headers()) {
      if (name.size() + value.size() > kMaxHeaderBytes) {
        // The name is not quoted: cut short it could split a UTF-8
        // character, and the ack must stay valid UTF-8.
        AddError(ack, "INVALID_ARGUMENT", "eas_exchange.headers",
                 StrCat("a header of ", name.size() + value.size(),
                        " bytes exceeds the limit of ", kMaxHeaderBytes));
        return false;
      }
    }
    if (ex.method().size() > 16) {
      AddError(ack, "INVALID_ARGUMENT", "eas_exchange.method",
               "longer than 16 bytes");
      return false;
    }
  } else if (r.has_calendar_change()) {
    const v1::CalendarChange& c = r.calendar_change();
    for (const auto& [name, value] :
         {std::pair{"eas_device_id", &c.eas_device_id()},
          std::pair{"user", &c.user()},
          std::pair{"collection_id", &c.collection_id()},
          std::pair{"server_id", &c.server_id()}, std::pair{"uid", &c.uid()},
          std::pair{"organizer_email_before", &c.organizer_email_before()},
          std::pair{"organizer_email_after", &c.organizer_email_after()},
          std::pair{"organizer_name_before", &c.organizer_name_before()},
          std::pair{"organizer_name_after", &c.organizer_name_after()},
          std::pair{"command", &c.command()}}) {
      if (value->size() > kMaxCalendarFieldBytes) {
        AddError(ack, "INVALID_ARGUMENT", StrCat("calendar_change.", name),
                 StrCat(value->size(), " bytes exceeds the limit of ",
                        kMaxCalendarFieldBytes));
        return false;
      }
    }
    if (c.attendee_count() < 0) {
      AddError(ack, "INVALID_ARGUMENT", "calendar_change.attendee_count",
               "must not be negative");
      return false;
    }
  }
  return true;
}

}  // namespace

TrafficHandler::TrafficHandler(detector::TrafficDetector* detector,
                               const Clock* clock, policy::PolicyEngine* engine)
    : detector_(detector), clock_(clock), engine_(engine) {}

policy::StoreTicket TrafficHandler::Report(const v1::ReportTrafficRequest& r,
                                           v1::TrafficAck* ack) const {
  ack->set_sequence(r.sequence());
  if (absl::Status s = ValidateTenantId(r.tenant_id()); !s.ok()) {
    AddError(ack, "INVALID_ARGUMENT", "tenant_id", std::string(s.message()));
    return 0;
  }
  if (!CheckLimits(r, ack)) {
    return 0;
  }
  detector::ObservationView obs;
  obs.tenant_id = r.tenant_id();
  obs.sequence = r.sequence();
  const absl::Time now = clock_->Now();
  if (r.has_observed_at() &&
      (r.observed_at().seconds() < 0 ||
       r.observed_at().seconds() > 253402300799 ||
       r.observed_at().nanos() < 0 || r.observed_at().nanos() > 999999999)) {
    AddError(ack, "INVALID_ARGUMENT", "observed_at",
             "is outside 1970-01-01 to 9999-12-31");
    return 0;
  }
  obs.observed_at = r.has_observed_at() ? FromProto(r.observed_at()) : now;
  obs.received_at = now;
  // Past times are fine (replayed traces); a time in the future would make
  // every later real state look stale and expire the ledger early.
  if (obs.observed_at > now + kMaxClockSkew) {
    AddError(ack, "INVALID_ARGUMENT", "observed_at",
             StrCat("is more than ", absl::FormatDuration(kMaxClockSkew),
                    " ahead of the server's clock"));
    return 0;
  }
  detector::EasExchangeView ex;
  detector::CalendarChangeView cc;
  std::list<std::string> inflated_bodies;  // ex's views point into it
  if (r.has_eas_exchange()) {
    const v1::EasExchange& in = r.eas_exchange();
    ex.method = in.method();
    ex.target = in.target();
    ex.headers.reserve(static_cast<std::size_t>(in.headers_size()));
    for (const auto& [name, value] : in.headers()) {
      ex.headers.emplace_back(name, value);
    }
    // A gateway sees what Exchange sent: compressed when the client
    // accepted gzip.
    for (auto [field, body, view] :
         {std::tuple{"eas_exchange.request_body", &in.request_body(),
                     &ex.request_body},
          std::tuple{"eas_exchange.response_body", &in.response_body(),
                     &ex.response_body}}) {
      *view = *body;
      if (!LooksGzipped(*body)) continue;
      auto inflated = Gunzip(*body, kMaxInflatedBodyBytes);
      if (!inflated.ok()) {
        AddError(ack, "UNDECODABLE_BODY", field,
                 std::string(inflated.status().message()));
        return 0;
      }
      *view = inflated_bodies.emplace_back(*std::move(inflated));
    }
    ex.response_status = in.response_status();
    obs.eas_exchange = &ex;
  } else if (r.has_calendar_change()) {
    const v1::CalendarChange& in = r.calendar_change();
    cc.eas_device_id = in.eas_device_id();
    cc.user = in.user();
    cc.collection_id = in.collection_id();
    cc.server_id = in.server_id();
    cc.uid = in.uid();
    cc.organizer_email_before = in.organizer_email_before();
    cc.organizer_email_after = in.organizer_email_after();
    cc.organizer_name_before = in.organizer_name_before();
    cc.organizer_name_after = in.organizer_name_after();
    cc.meeting_status_before =
        OptionalInt(in.has_meeting_status_before(), in.meeting_status_before());
    cc.meeting_status_after =
        OptionalInt(in.has_meeting_status_after(), in.meeting_status_after());
    cc.attendee_count = in.attendee_count();
    cc.command = in.command();
    obs.calendar_change = &cc;
  }
  detector::ObserveResult result;
  detector_->Observe(obs, &result);
  // Commits are in ticket order: the newest covers the observation and the
  // decisions it caused.
  policy::StoreTicket ticket = result.ticket;
  for (const detector::DetectionEvent& e : result.events) {
    ToProto(e, ack->add_events());
    if (event_log_ != nullptr) event_log_->Detection(e);
  }
  for (const detector::ItemError& e : result.errors) {
    AddError(ack, e.code, e.field, e.message);
  }
  if (result.events_dropped > 0) {
    AddError(ack, "EVENTS_TRUNCATED", "",
             StrCat(result.events_dropped,
                    " more events than an ack carries; they are recorded "
                    "(see GetDeviceRisk)"));
  }
  if (engine_ != nullptr && !result.events.empty()) {
    // Usually one device; re-decide each once.
    std::vector<std::string_view> decided;
    for (const detector::DetectionEvent& e : result.events) {
      if (std::find(decided.begin(), decided.end(), e.eas_device_id) ==
          decided.end()) {
        decided.push_back(e.eas_device_id);
        absl::StatusOr<policy::StoreTicket> decided_ticket =
            engine_->DecideAfterTraffic(e.tenant_id, e.eas_device_id);
        // After the decision is submitted: other replicas told of the
        // device must find it when they decide again.
        if (listener_) listener_(e.tenant_id, e.eas_device_id);
        if (decided_ticket.ok()) {
          ticket = std::max(ticket, *decided_ticket);
        } else {
          AddError(ack, "STATE_UNAVAILABLE", "",
                   StrCat("the device was not re-decided: ",
                          std::string(decided_ticket.status().message())));
        }
      }
    }
  }
  return ticket;
}

void TrafficHandler::Count(const v1::TrafficAck& ack) const {
  Outcome outcome = Outcome::kAccepted;
  for (const v1::ItemError& e : ack.errors()) {
    if (e.code() == "EVENTS_TRUNCATED") continue;
    if (e.code() == "UNAUTHENTICATED" || e.code() == "PERMISSION_DENIED") {
      outcome = Outcome::kRefused;
    } else if (e.code() == "STATE_UNAVAILABLE") {
      outcome = Outcome::kUnavailable;
    } else {
      outcome = Outcome::kRejected;
    }
    break;
  }
  outcomes_[static_cast<std::size_t>(outcome)].fetch_add(
      1, std::memory_order_relaxed);
}

std::array<std::uint64_t, TrafficHandler::kOutcomes> TrafficHandler::outcomes()
    const {
  std::array<std::uint64_t, kOutcomes> out{};
  for (std::size_t i = 0; i < kOutcomes; ++i) {
    out[i] = outcomes_[i].load(std::memory_order_relaxed);
  }
  return out;
}

void TrafficHandler::Undecodable(const std::string& bytes,
                                 const absl::Status& why, v1::TrafficAck* ack) {
  // Read the top-level sequence field (2, varint) so the ack can be matched.
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const std::uint8_t*>(bytes.data()),
      static_cast<int>(bytes.size()));
  while (true) {
    const std::uint32_t tag = in.ReadTag();
    if (tag == 0) {
      break;
    }
    if (tag ==
        WireFormatLite::MakeTag(v1::ReportTrafficRequest::kSequenceFieldNumber,
                                WireFormatLite::WIRETYPE_VARINT)) {
      std::uint64_t sequence = 0;
      if (in.ReadVarint64(&sequence)) {
        ack->set_sequence(sequence);
      }
      continue;
    }
    if (!WireFormatLite::SkipField(&in, tag)) {
      break;
    }
  }
  AddError(ack, "INVALID_ARGUMENT", "", std::string(why.message()));
}

absl::Status TrafficHandler::GetDeviceRisk(
    const v1::GetDeviceRiskRequest& request,
    v1::GetDeviceRiskResponse* response) const {
  RETURN_IF_ERROR(ValidateTenantId(request.tenant_id()));
  if (request.eas_device_id().empty() && request.mdm_device_id().empty()) {
    return absl::InvalidArgumentError(
        "eas_device_id: one of eas_device_id and mdm_device_id is required");
  }
  absl::StatusOr<std::optional<detector::DeviceRisk>> found =
      detector_->GetDeviceRisk(request.tenant_id(), request.eas_device_id(),
                               request.mdm_device_id());
  if (!found.ok()) {
    return absl::UnavailableError(
        StrCat("the device's state cannot be read: ",
               std::string(found.status().message())));
  }
  const std::optional<detector::DeviceRisk>& risk = *found;
  if (!risk) {
    return absl::NotFoundError(StrCat(
        "no device ",
        request.eas_device_id().empty()
            ? StrCat("with mdm_device_id ", QuoteInput(request.mdm_device_id()))
            : QuoteInput(request.eas_device_id()),
        " in tenant ", QuoteInput(request.tenant_id()), " has been seen"));
  }
  response->set_tenant_id(risk->tenant_id);
  response->set_eas_device_id(risk->eas_device_id);
  response->set_mdm_device_id(risk->mdm_device_id);
  for (const std::string& m : risk->mailboxes) {
    response->add_mailboxes(m);
  }
  const detector::Fingerprint fp = detector::IdentifyDevice(
      detector::ToFingerprintInput(risk->facts), detector_->catalog());
  ToProto(fp, response->mutable_fingerprint());
  if (engine_ != nullptr) {
    const absl::Time now = clock_->Now();
    absl::StatusOr<policy::PolicyEngine::DeviceView> view =
        engine_->ViewDevice(fp, risk->facts, now);
    if (!view.ok()) {
      return view.status();
    }
    ToProto(*view, now, response->mutable_decision());
  }
  bool confirmed = false;
  for (const detector::DetectionEvent& e : risk->events) {
    ToProto(e, response->add_events());
    confirmed |= detector::IsConfirmedHijackEvent(e.kind);
  }
  response->set_events_dropped(risk->events_dropped);
  for (const detector::AffectedMeeting& m : risk->meetings) {
    v1::AffectedMeeting* out = response->add_meetings();
    out->set_mailbox(m.mailbox);
    out->set_collection_id(m.collection_id);
    out->set_server_id(m.server_id);
    out->set_uid(m.uid);
    out->set_true_organizer_email(m.true_organizer_email);
    out->set_true_organizer_name(m.true_organizer_name);
    out->set_claimed_organizer_email(m.claimed_organizer_email);
    for (detector::EventKind k : m.kinds) {
      out->add_kinds(ToProto(k));
    }
    ToProto(m.first_seen, out->mutable_first_seen());
    ToProto(m.last_seen, out->mutable_last_seen());
  }
  response->set_observations(risk->observations);
  response->set_traffic_action(confirmed ? v1::ACTION_QUARANTINE
                                         : v1::ACTION_ALLOW);
  return absl::OkStatus();
}

v1::EventKind ToProto(detector::EventKind kind) {
  switch (kind) {
    case detector::EventKind::kOrganizerRewrite:
      return v1::EVENT_KIND_ORGANIZER_REWRITE;
    case detector::EventKind::kOwnershipClaim:
      return v1::EVENT_KIND_OWNERSHIP_CLAIM;
    case detector::EventKind::kAttendeeCancel:
      return v1::EVENT_KIND_ATTENDEE_CANCEL;
    case detector::EventKind::kSuspectedSelfOrganizer:
      return v1::EVENT_KIND_SUSPECTED_SELF_ORGANIZER;
    case detector::EventKind::kOrganizerNameChange:
      return v1::EVENT_KIND_ORGANIZER_NAME_CHANGE;
  }
  return v1::EVENT_KIND_UNSPECIFIED;
}

void ToProto(const detector::DetectionEvent& e, v1::DetectionEvent* out) {
  out->set_kind(ToProto(e.kind));
  out->set_tenant_id(e.tenant_id);
  out->set_eas_device_id(e.eas_device_id);
  out->set_mailbox(e.mailbox);
  out->set_uid(e.uid);
  out->set_collection_id(e.collection_id);
  out->set_server_id(e.server_id);
  out->set_command(e.command);
  out->set_organizer_email_before(e.organizer_email_before);
  out->set_organizer_email_after(e.organizer_email_after);
  out->set_organizer_name_before(e.organizer_name_before);
  out->set_organizer_name_after(e.organizer_name_after);
  if (e.meeting_status_before) {
    SetStatus(e.meeting_status_before, out->mutable_meeting_status_before());
  }
  if (e.meeting_status_after) {
    SetStatus(e.meeting_status_after, out->mutable_meeting_status_after());
  }
  out->set_attendee_count(e.attendee_count);
  out->set_meeting_response_preceded(e.meeting_response_preceded);
  if (e.meeting_response_preceded) {
    const std::int64_t ms = absl::ToInt64Milliseconds(e.meeting_response_age);
    out->mutable_meeting_response_age()->set_seconds(ms / 1000);
    out->mutable_meeting_response_age()->set_nanos(
        static_cast<std::int32_t>((ms % 1000) * 1'000'000));
    out->set_meeting_response(e.meeting_response.value_or(0));
  }
  out->set_sequence(e.sequence);
  ToProto(e.observed_at, out->mutable_observed_at());
  out->set_explanation(e.explanation);
}

}  // namespace hijackguard::plugin
