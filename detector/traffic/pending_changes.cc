#include "detector/traffic/pending_changes.h"

#include <algorithm>

#include "detector/traffic/detector_rows.h"
#include "detector/traffic/meeting_ledger.h"

namespace hijackguard::detector {

absl::Status PendingChanges::Load(
    const std::vector<std::pair<std::string, std::string>>& rows) {
  for (const auto& [key, value] : rows) {
    std::vector<PendingChange> list;
    if (absl::Status s = DecodePending(value, &list); !s.ok()) {
      return s;
    }
    count_ += list.size();
    lists_[key] = std::move(list);
  }
  durable_ = true;
  return absl::OkStatus();
}

std::string PendingChanges::Key(std::string_view tenant,
                                std::string_view mailbox,
                                std::string_view collection_id,
                                std::string_view server_id) {
  return JoinKey({tenant, mailbox, collection_id, server_id});
}

absl::Status PendingChanges::Refresh(const std::string& key,
                                     const std::optional<std::string>& row) {
  if (changed_.contains(key)) {
    return absl::OkStatus();
  }
  std::vector<PendingChange> list;
  if (row) {
    if (absl::Status s = DecodePending(*row, &list); !s.ok()) {
      return s;
    }
  }
  if (auto it = lists_.find(key); it != lists_.end()) {
    count_ -= it->second.size();
    lists_.erase(it);
  }
  if (!list.empty()) {
    count_ += list.size();
    lists_.emplace(key, std::move(list));
  }
  return absl::OkStatus();
}

void PendingChanges::ForgetAll() {
  if (!changed_.empty()) return;
  lists_.clear();
  count_ = 0;
}

void PendingChanges::WillChange(const std::string& key) {
  if (!durable_ || !changed_.insert(key).second) {
    return;
  }
  auto it = lists_.find(key);
  before_.emplace(key,
                  it == lists_.end()
                      ? std::nullopt
                      : std::optional<std::vector<PendingChange>>(it->second));
}

void PendingChanges::DropChanged() {
  for (auto& [key, list] : before_) {
    auto it = lists_.find(key);
    if (it != lists_.end()) {
      count_ -= it->second.size();
      lists_.erase(it);
    }
    if (list) {
      count_ += list->size();
      lists_.emplace(key, std::move(*list));
    }
  }
  before_.clear();
  changed_.clear();
}

void PendingChanges::Sweep(absl::Time now) {
  for (auto it = lists_.begin(); it != lists_.end();) {
    auto& list = it->second;
    auto expired = [&](const PendingChange& p) { return now - p.at > ttl_; };
    if (std::any_of(list.begin(), list.end(), expired)) {
      WillChange(it->first);
    }
    const std::size_t before = list.size();
    std::erase_if(list, expired);
    dropped_ += before - list.size();
    count_ -= before - list.size();
    if (list.empty()) {
      lists_.erase(it++);
    } else {
      ++it;
    }
  }
}

void PendingChanges::Add(const ItemContext& ctx, const ClientItem& item) {
  if (item.uid.size() > MeetingLedger::kMaxUidBytes ||
      item.organizer_email.size() + item.organizer_name.size() >
          MeetingLedger::kMaxOrganizerBytes ||
      item.server_id.size() > MeetingLedger::kMaxIdBytes ||
      item.collection_id.size() > MeetingLedger::kMaxIdBytes) {
    ++dropped_;
    return;
  }
  if (count_ >= max_) {
    // Full. Sweep what waited too long (at most once a minute of
    // observation time: a sweep walks everything), then give up on this one
    // if still full.
    if (absl::AbsDuration(item.at - last_sweep_) >= absl::Minutes(1)) {
      last_sweep_ = item.at;
      Sweep(item.at);
    }
    if (count_ >= max_) {
      ++dropped_;
      return;
    }
  }
  PendingChange p;
  p.device_id = ctx.device->eas_device_id;
  p.request_user = ctx.request_user;
  p.op = item.op;
  p.collection_id = std::string(item.collection_id);
  p.server_id = std::string(item.server_id);
  p.uid = std::string(item.uid);
  p.organizer_email = std::string(item.organizer_email);
  p.organizer_name = std::string(item.organizer_name);
  p.meeting_status = item.meeting_status;
  p.attendee_count = item.attendee_count;
  p.has_calendar_data = item.has_calendar_data;
  p.sequence = item.sequence;
  p.at = item.at;
  std::string key =
      JoinKey({ctx.tenant, ctx.mailbox, item.collection_id, item.server_id});
  if (auto it = lists_.find(key); it != lists_.end()) {
    for (const PendingChange& q : it->second) {
      if (q.device_id == p.device_id && q.sequence == p.sequence &&
          q.at == p.at && q.op == p.op) {
        return;  // a retry
      }
    }
  }
  WillChange(key);
  lists_[key].push_back(std::move(p));
  ++count_;
}

std::vector<PendingChange> PendingChanges::Take(std::string_view tenant,
                                                std::string_view mailbox,
                                                std::string_view collection_id,
                                                std::string_view server_id) {
  if (lists_.empty()) {
    return {};
  }
  auto it = lists_.find(JoinKey({tenant, mailbox, collection_id, server_id}));
  if (it == lists_.end()) {
    return {};
  }
  WillChange(it->first);
  std::vector<PendingChange> list = std::move(it->second);
  lists_.erase(it);
  count_ -= list.size();
  return list;
}

void PendingChanges::TakeChangedRows(std::vector<StoreRow>* rows) {
  for (const std::string& key : changed_) {
    StoreRow& row = rows->emplace_back();
    row.key = key;
    auto it = lists_.find(key);
    if (it == lists_.end() || it->second.empty()) {
      row.erase = true;
    } else {
      EncodePending(it->second, &row.value);
    }
  }
  changed_.clear();
  before_.clear();
}

}  // namespace hijackguard::detector
