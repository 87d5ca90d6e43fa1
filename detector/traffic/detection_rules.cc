#include "detector/traffic/detection_rules.h"

#include <algorithm>

#include "common/strings.h"

namespace hijackguard::detector {
namespace {

using Operation = eas::CalendarItem::Operation;

// MeetingStatus bits (MS-ASCAL): bit 1 = received from someone else, bit 2 =
// cancelled.
bool IsReceived(int status) { return (status & 2) != 0; }
bool IsCancelled(int status) { return (status & 4) != 0; }
bool IsOrganizerMeeting(int status) {
  return status == 1 || status == 5 || status == 9 || status == 13;
}
bool IsReceivedMeeting(int status) {
  return status == 3 || status == 7 || status == 11 || status == 15;
}

std::string_view OperationName(Operation op) {
  switch (op) {
    case Operation::kAdd:
      return "Add";
    case Operation::kChange:
      return "Change";
    case Operation::kDelete:
      return "Delete";
    case Operation::kFetch:
      return "Fetch";
  }
  return "";
}

// Whether a MeetingResponse is about the item: by its request id in the same
// collection, or by the calendar item the server made of it.
bool RespondsTo(const MeetingResponseRecord& r, const ClientItem& item) {
  return (r.collection_id == item.collection_id &&
          r.request_id == item.server_id) ||
         (!r.calendar_id.empty() && r.calendar_id == item.server_id);
}

// 4. SUSPECTED_SELF_ORGANIZER: a hijack-prone client names its own user as
// organizer of a meeting with others, with no server state to compare.
void JudgeWithoutServerState(const ClientItem& item, const Mailbox& mailbox,
                             absl::FunctionRef<bool()> has_hijack_fingerprint,
                             Judgement* out) {
  const std::string organizer = NormalizeAddress(item.organizer_email);
  if (!IsOwner(mailbox, organizer) || !has_hijack_fingerprint()) {
    return;
  }
  bool others = false;
  if (item.attendee_emails_known) {
    for (std::string_view email : item.attendee_emails) {
      const std::string a = NormalizeAddress(email);
      others |= !a.empty() && !IsOwner(mailbox, a);
    }
  } else {
    others = item.attendee_count > 0;
  }
  if (others) {
    out->findings.push_back(
        {EventKind::kSuspectedSelfOrganizer,
         StrCat("a client whose build has the organizer-hijack issue "
                "names its own user (",
                organizer,
                ") as organizer of a meeting with other attendees that "
                "the server's state is not known for")});
  }
}

// Rules 1 to 3 for a Change of a meeting the user was invited to.
void JudgeChange(const ClientItem& item, const MeetingSnapshot& before,
                 Judgement* out) {
  const std::string before_email = NormalizeAddress(before.organizer_email);
  const std::string after_email = NormalizeAddress(item.organizer_email);
  // 1. ORGANIZER_REWRITE (or, same address, a display-name change).
  if (!after_email.empty() && !before_email.empty()) {
    if (after_email != before_email) {
      out->findings.push_back(
          {EventKind::kOrganizerRewrite,
           StrCat("the client changed the organizer of a meeting it was "
                  "invited to from ",
                  before_email, " to ", after_email)});
    } else if (!item.organizer_name.empty() && !before.organizer_name.empty() &&
               item.organizer_name != before.organizer_name) {
      out->findings.push_back(
          {EventKind::kOrganizerNameChange,
           StrCat("the client sent another display name for organizer ",
                  before_email, ": \"", item.organizer_name, "\" instead of \"",
                  before.organizer_name, "\"")});
    }
  }
  // 2. OWNERSHIP_CLAIM.
  if (item.meeting_status && before.meeting_status &&
      IsReceivedMeeting(*before.meeting_status) &&
      IsOrganizerMeeting(*item.meeting_status)) {
    out->findings.push_back(
        {EventKind::kOwnershipClaim,
         StrCat("the client moved MeetingStatus from ", *before.meeting_status,
                " (received) to ", *item.meeting_status, " (organizer)")});
  }
  // 3. ATTENDEE_CANCEL by Change.
  if (item.meeting_status && IsCancelled(*item.meeting_status) &&
      before.meeting_status && IsReceived(*before.meeting_status) &&
      !IsCancelled(*before.meeting_status)) {
    out->findings.push_back(
        {EventKind::kAttendeeCancel,
         StrCat("an attendee's client marked the meeting cancelled "
                "(MeetingStatus ",
                *before.meeting_status, " to ", *item.meeting_status, ")")});
  }
}

// 3. ATTENDEE_CANCEL by Delete of a live meeting the user does not own,
// unless it was declined first (the legitimate way), and always after the
// client rewrote it (Exchange then treats the user as organizer and sends
// cancellations).
void JudgeDelete(const ClientItem& item, const MeetingSnapshot& before,
                 std::span<const MeetingResponseRecord> responses,
                 Judgement* out) {
  if (before.meeting_status && IsCancelled(*before.meeting_status)) {
    return;
  }
  const bool rewrote = before.disputed;
  bool declined = false;
  // Newest first. (std::views::reverse does not build with clang 14 and
  // libstdc++ 12, which the tsa and fuzz presets use.)
  // NOLINTNEXTLINE(modernize-loop-convert)
  for (auto r = responses.rbegin(); r != responses.rend(); ++r) {
    if (r->at <= item.at && RespondsTo(*r, item)) {
      declined = r->user_response == 3;
      break;
    }
  }
  if (!rewrote && declined) {
    return;
  }
  const std::string before_email = NormalizeAddress(before.organizer_email);
  out->findings.push_back(
      {EventKind::kAttendeeCancel,
       rewrote
           ? StrCat("the client deleted a meeting organized by ", before_email,
                    " after rewriting it as its own; Exchange sends "
                    "cancellations to the attendees")
           : StrCat("the client deleted a meeting organized by ", before_email,
                    " without declining it first")});
}

}  // namespace

bool IsOwner(const Mailbox& mailbox, std::string_view normalized) {
  if (normalized.empty()) {
    return false;
  }
  std::string owners[3] = {std::string(mailbox.request_user), {}, {}};
  if (mailbox.device != nullptr) {
    owners[1] = NormalizeAddress(mailbox.device->facts.user_principal);
    owners[2] = NormalizeAddress(mailbox.device->facts.primary_smtp_address);
    // What the server said the mailbox's addresses are (Settings).
    for (const std::string& a : mailbox.device->addresses) {
      if (a == normalized) return true;
    }
  }
  for (const std::string& owner : owners) {
    if (!owner.empty() && owner == normalized) {
      return true;
    }
  }
  if (mailbox.aliases == nullptr) {
    return false;
  }
  for (const auto& [address, aliases] : *mailbox.aliases) {
    const std::string a = NormalizeAddress(address);
    bool is_owner_address = false;
    bool names_candidate = a == normalized;
    for (const std::string& owner : owners) {
      is_owner_address |= !owner.empty() && owner == a;
    }
    for (const std::string& alias : aliases) {
      const std::string n = NormalizeAddress(alias);
      names_candidate |= n == normalized;
      for (const std::string& owner : owners) {
        is_owner_address |= !owner.empty() && owner == n;
      }
    }
    if (is_owner_address && names_candidate) {
      return true;
    }
  }
  return false;
}

bool NeedsJudging(const ClientItem& item) {
  if (item.server_id.empty() || item.server_refused) {
    return false;
  }
  // A Change without calendar data: not a calendar item, or nothing
  // calendar-related changed.
  return item.op != Operation::kChange || item.has_calendar_data;
}

Judgement JudgeClientItem(const ClientItem& item,
                          const std::optional<MeetingSnapshot>& before,
                          const Mailbox& mailbox,
                          std::span<const MeetingResponseRecord> responses,
                          absl::FunctionRef<bool()> has_hijack_fingerprint) {
  Judgement out;
  if (before && before->updated_at > item.at) {
    // The server state on record came after this command (a late report):
    // it is not what the client saw, so it cannot judge it.
    return out;
  }
  if (!before) {
    // A Delete of something never seen (most are e-mail): nothing to compare
    // with, and nothing to wait for.
    if (item.op == Operation::kChange) {
      JudgeWithoutServerState(item, mailbox, has_hijack_fingerprint, &out);
      out.wait_for_server = true;
    }
    return out;
  }
  // Does the mailbox's user organize this meeting, per the server?
  bool user_owns;
  if (before->client_added) {
    user_owns = true;
  } else if (before->meeting_status) {
    user_owns = !IsReceived(*before->meeting_status);
  } else {
    const std::string organizer = NormalizeAddress(before->organizer_email);
    user_owns = organizer.empty() || IsOwner(mailbox, organizer);
  }
  if (user_owns) {
    return out;  // the organizer editing their own meeting
  }
  if (item.op == Operation::kChange) {
    JudgeChange(item, *before, &out);
  } else if (item.op == Operation::kDelete) {
    JudgeDelete(item, *before, responses, &out);
  }
  return out;
}

DetectionEvent MakeEvent(const ItemContext& ctx, const ClientItem& item,
                         EventKind kind, const MeetingSnapshot* before,
                         std::string explanation,
                         absl::Duration response_window) {
  DetectionEvent e;
  e.kind = kind;
  e.tenant_id = std::string(ctx.tenant);
  e.eas_device_id = ctx.device->eas_device_id;
  e.mailbox = ctx.mailbox;
  e.collection_id = std::string(item.collection_id);
  e.server_id = std::string(item.server_id);
  e.uid = before != nullptr && !before->uid.empty() ? before->uid
                                                    : std::string(item.uid);
  e.command = std::string(OperationName(item.op));
  if (before != nullptr) {
    e.organizer_email_before = before->organizer_email;
    e.organizer_name_before = before->organizer_name;
    e.meeting_status_before = before->meeting_status;
  }
  e.organizer_email_after = std::string(item.organizer_email);
  e.organizer_name_after = std::string(item.organizer_name);
  e.meeting_status_after = item.meeting_status;
  // Who the meeting reaches is what the server sent: a client's Change may
  // omit the attendees it leaves alone (ghosting), and a Delete has none.
  e.attendee_count =
      before != nullptr ? before->attendee_count : item.attendee_count;
  const auto& responses = ctx.device->responses;
  // Newest first (see JudgeDelete).
  // NOLINTNEXTLINE(modernize-loop-convert)
  for (auto r = responses.rbegin(); r != responses.rend(); ++r) {
    if (r->at <= item.at && item.at - r->at <= response_window &&
        RespondsTo(*r, item)) {
      e.meeting_response_preceded = true;
      e.meeting_response_age = item.at - r->at;
      e.meeting_response = r->user_response;
      break;
    }
  }
  e.sequence = item.sequence;
  e.observed_at = item.at;
  e.explanation = std::move(explanation);
  return e;
}

}  // namespace hijackguard::detector
