#include "detector/traffic/meeting_ledger.h"

#include <algorithm>
#include <cstring>

#include "absl/hash/hash.h"

namespace hijackguard::detector {
namespace {

constexpr int kMaxExpirationsPerPut = 64;

// Blob layout: [collection length u8][server id length u8][stored UID length
// u16 LE][UID mode u8] collection id, server id, UID bytes.
constexpr std::size_t kHeader = 5;
enum UidMode : std::uint8_t { kRaw = 0, kUpperHex = 1, kLowerHex = 2 };

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The packing mode for `uid`: hex of one letter case and even length packs.
UidMode ModeFor(std::string_view uid) {
  if (uid.empty() || uid.size() % 2 != 0) {
    return kRaw;
  }
  bool upper = false;
  bool lower = false;
  for (char c : uid) {
    if (HexValue(c) < 0) {
      return kRaw;
    }
    upper |= c >= 'A' && c <= 'F';
    lower |= c >= 'a' && c <= 'f';
  }
  if (upper && lower) {
    return kRaw;
  }
  return lower ? kLowerHex : kUpperHex;
}

std::string_view BlobCollection(const char* blob) {
  return {blob + kHeader, static_cast<std::uint8_t>(blob[0])};
}

std::string_view BlobServerId(const char* blob) {
  return {blob + kHeader + static_cast<std::uint8_t>(blob[0]),
          static_cast<std::uint8_t>(blob[1])};
}

std::string BlobUid(const char* blob) {
  const std::size_t stored =
      static_cast<std::uint8_t>(blob[2]) |
      (static_cast<std::size_t>(static_cast<std::uint8_t>(blob[3])) << 8);
  const auto mode = static_cast<UidMode>(blob[4]);
  const char* data = blob + kHeader + static_cast<std::uint8_t>(blob[0]) +
                     static_cast<std::uint8_t>(blob[1]);
  if (mode == kRaw) {
    return std::string(data, stored);
  }
  const char* digits =
      mode == kUpperHex ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out(stored * 2, '\0');
  for (std::size_t i = 0; i < stored; ++i) {
    const auto b = static_cast<std::uint8_t>(data[i]);
    out[2 * i] = digits[b >> 4];
    out[2 * i + 1] = digits[b & 0x0F];
  }
  return out;
}

std::unique_ptr<char[]> MakeBlob(std::string_view collection,
                                 std::string_view server_id,
                                 std::string_view uid) {
  const UidMode mode = ModeFor(uid);
  const std::size_t stored = mode == kRaw ? uid.size() : uid.size() / 2;
  auto blob = std::make_unique<char[]>(kHeader + collection.size() +
                                       server_id.size() + stored);
  blob[0] = static_cast<char>(collection.size());
  blob[1] = static_cast<char>(server_id.size());
  blob[2] = static_cast<char>(stored & 0xFF);
  blob[3] = static_cast<char>(stored >> 8);
  blob[4] = static_cast<char>(mode);
  char* p = blob.get() + kHeader;
  // std::copy, not memcpy: an empty view may have a null data().
  p = std::copy(collection.begin(), collection.end(), p);
  p = std::copy(server_id.begin(), server_id.end(), p);
  if (mode == kRaw) {
    std::copy(uid.begin(), uid.end(), p);
  } else {
    for (std::size_t i = 0; i < stored; ++i) {
      p[i] = static_cast<char>((HexValue(uid[2 * i]) << 4) |
                               HexValue(uid[2 * i + 1]));
    }
  }
  return blob;
}

std::int64_t ToMillis(absl::Time t) { return absl::ToUnixMillis(t); }

}  // namespace

std::uint32_t MeetingLedger::Pool::Acquire(std::string_view value) {
  if (auto it = ids.find(value); it != ids.end()) {
    ++refs[it->second];
    return it->second;
  }
  std::uint32_t id;
  if (!free.empty()) {
    id = free.back();
    free.pop_back();
    values[id] = std::string(value);
    refs[id] = 1;
  } else {
    id = static_cast<std::uint32_t>(values.size());
    values.emplace_back(value);
    refs.push_back(1);
  }
  ids.emplace(values[id], id);
  return id;
}

void MeetingLedger::Pool::Release(std::uint32_t id) {
  if (--refs[id] == 0) {
    ids.erase(values[id]);
    values[id] = std::string();
    free.push_back(id);
  }
}

std::uint32_t MeetingLedger::Pool::Lookup(std::string_view value) const {
  auto it = ids.find(value);
  return it == ids.end() ? kNone : it->second;
}

std::size_t MeetingLedger::IndexHash::operator()(std::uint32_t slot) const {
  return (*this)(ledger->KeyOf(slot));
}

std::size_t MeetingLedger::IndexHash::operator()(const Probe& probe) const {
  return absl::HashOf(probe.mailbox, probe.collection_id, probe.server_id);
}

bool MeetingLedger::IndexEq::operator()(std::uint32_t slot,
                                        const Probe& probe) const {
  const Probe k = ledger->KeyOf(slot);
  return k.mailbox == probe.mailbox && k.server_id == probe.server_id &&
         k.collection_id == probe.collection_id;
}

MeetingLedger::MeetingLedger(LedgerOptions options)
    : options_(options), index_(0, IndexHash{this}, IndexEq{this}) {}

MeetingLedger::~MeetingLedger() = default;

std::string MeetingLedger::MailboxKey(std::string_view tenant,
                                      std::string_view mailbox) {
  std::string key;
  key.reserve(tenant.size() + 1 + mailbox.size());
  key.append(tenant).push_back('\0');
  key.append(mailbox);
  return key;
}

MeetingLedger::Probe MeetingLedger::KeyOf(std::uint32_t slot) const {
  const Slot& s = slots_[slot];
  return Probe{s.mailbox, BlobCollection(s.blob.get()),
               BlobServerId(s.blob.get())};
}

std::uint32_t MeetingLedger::FindSlot(const LedgerKey& key) const {
  const std::uint32_t mailbox =
      mailboxes_.Lookup(MailboxKey(key.tenant, key.mailbox));
  if (mailbox == kNone) {
    return kNone;
  }
  auto it = index_.find(Probe{mailbox, key.collection_id, key.server_id});
  return it == index_.end() ? kNone : *it;
}

bool MeetingLedger::Expired(const Slot& slot, absl::Time now) const {
  return absl::FromUnixMillis(slot.updated_ms) + options_.ttl < now;
}

void MeetingLedger::Unlink(std::uint32_t slot) {
  Slot& s = slots_[slot];
  if (s.prev != kNone) {
    slots_[s.prev].next = s.next;
  } else {
    head_ = s.next;
  }
  if (s.next != kNone) {
    slots_[s.next].prev = s.prev;
  } else {
    tail_ = s.prev;
  }
  s.prev = s.next = kNone;
}

void MeetingLedger::PushFront(std::uint32_t slot) {
  Slot& s = slots_[slot];
  s.prev = kNone;
  s.next = head_;
  if (head_ != kNone) {
    slots_[head_].prev = slot;
  }
  head_ = slot;
  if (tail_ == kNone) {
    tail_ = slot;
  }
}

void MeetingLedger::Erase(std::uint32_t slot) {
  index_.erase(slot);
  Unlink(slot);
  Slot& s = slots_[slot];
  mailboxes_.Release(s.mailbox);
  if (s.organizer != kNone) {
    organizers_.Release(s.organizer);
  }
  s = Slot();
  free_slots_.push_back(slot);
}

void MeetingLedger::EvictFor(absl::Time now) {
  // A bounded number of expirations per call, so no single Put stalls the
  // detector; the rest go on later calls (and Find ignores them meanwhile).
  for (int i = 0; i < kMaxExpirationsPerPut && tail_ != kNone &&
                  Expired(slots_[tail_], now);
       ++i) {
    Erase(tail_);
    ++expirations_;
  }
  while (tail_ != kNone && index_.size() >= options_.max_entries) {
    Erase(tail_);
    ++evictions_;
  }
}

MeetingLedger::PutResult MeetingLedger::Put(const LedgerKey& key,
                                            const MeetingFacts& given,
                                            absl::Time at, bool client_added) {
  MeetingFacts facts = given;
  if (key.collection_id.size() > kMaxIdBytes ||
      key.server_id.size() > kMaxIdBytes || facts.uid.size() > kMaxUidBytes ||
      facts.organizer_email.size() + facts.organizer_name.size() >
          kMaxOrganizerBytes) {
    return PutResult::kTooLarge;
  }
  std::uint32_t slot = FindSlot(key);
  PutResult result = PutResult::kUpdated;
  if (slot != kNone && Expired(slots_[slot], at)) {
    Erase(slot);
    ++expirations_;
    slot = kNone;
  }
  if (slot != kNone) {
    Slot& old = slots_[slot];
    if (old.updated_ms > ToMillis(at)) {
      return PutResult::kStale;
    }
    if (old.disputed != 0) {
      // Keep the true organizer; see MarkDisputed.
      if (old.organizer != kNone) {
        const std::string_view organizer = organizers_.values[old.organizer];
        const std::size_t nul = organizer.find('\0');
        facts.organizer_email = organizer.substr(0, nul);
        facts.organizer_name = organizer.substr(nul + 1);
      }
      if (facts.meeting_status && old.status >= 0) {
        facts.meeting_status = (*facts.meeting_status & ~2) | (old.status & 2);
      }
      client_added = old.client_added != 0;
    }
    if (Same(old, facts, client_added)) {
      old.updated_ms = ToMillis(at);
      Unlink(slot);
      PushFront(slot);
      return PutResult::kUnchanged;
    }
    Unlink(slot);
  } else {
    if (options_.max_entries == 0) {
      return PutResult::kInserted;  // a ledger that keeps nothing
    }
    EvictFor(at);
    if (free_slots_.empty()) {
      slot = static_cast<std::uint32_t>(slots_.size());
      slots_.emplace_back();
    } else {
      slot = free_slots_.back();
      free_slots_.pop_back();
    }
    result = PutResult::kInserted;
  }
  Slot& s = slots_[slot];
  if (result == PutResult::kInserted) {
    s.mailbox = mailboxes_.Acquire(MailboxKey(key.tenant, key.mailbox));
    s.blob = MakeBlob(key.collection_id, key.server_id, facts.uid);
    index_.insert(slot);
  } else {
    // The key stays; the UID may change.
    s.blob = MakeBlob(key.collection_id, key.server_id, facts.uid);
  }
  // Acquire before releasing: the new value may view the old one.
  const std::uint32_t old_organizer = s.organizer;
  if (facts.organizer_email.empty() && facts.organizer_name.empty()) {
    s.organizer = kNone;
  } else {
    std::string organizer;
    organizer.reserve(facts.organizer_email.size() + 1 +
                      facts.organizer_name.size());
    organizer.append(facts.organizer_email).push_back('\0');
    organizer.append(facts.organizer_name);
    s.organizer = organizers_.Acquire(organizer);
  }
  if (old_organizer != kNone) {
    organizers_.Release(old_organizer);
  }
  s.status = facts.meeting_status
                 ? static_cast<std::int8_t>(*facts.meeting_status & 0x7F)
                 : std::int8_t{-1};
  s.attendees =
      static_cast<std::uint16_t>(std::clamp(facts.attendee_count, 0, 0xFFFF));
  s.updated_ms = ToMillis(at);
  s.client_added = client_added ? 1 : 0;
  // Versions never repeat, even for a key erased and stored again, so a
  // caller's "reported at version N" stays unambiguous.
  s.version = ++last_version_;
  PushFront(slot);
  return result;
}

bool MeetingLedger::Same(const Slot& s, const MeetingFacts& facts,
                         bool client_added) const {
  const std::int8_t status =
      facts.meeting_status
          ? static_cast<std::int8_t>(*facts.meeting_status & 0x7F)
          : std::int8_t{-1};
  if (s.status != status ||
      s.attendees != std::clamp(facts.attendee_count, 0, 0xFFFF) ||
      (s.client_added != 0) != client_added ||
      BlobUid(s.blob.get()) != facts.uid) {
    return false;
  }
  if (s.organizer == kNone) {
    return facts.organizer_email.empty() && facts.organizer_name.empty();
  }
  const std::string& organizer = organizers_.values[s.organizer];
  return organizer.size() ==
             facts.organizer_email.size() + 1 + facts.organizer_name.size() &&
         std::string_view(organizer).substr(0, facts.organizer_email.size()) ==
             facts.organizer_email &&
         std::string_view(organizer).substr(facts.organizer_email.size() + 1) ==
             facts.organizer_name;
}

std::optional<MeetingSnapshot> MeetingLedger::Find(const LedgerKey& key,
                                                   absl::Time now) const {
  const std::uint32_t slot = FindSlot(key);
  if (slot == kNone || Expired(slots_[slot], now)) {
    return std::nullopt;
  }
  return SnapshotOf(slot);
}

MeetingSnapshot MeetingLedger::SnapshotOf(std::uint32_t slot) const {
  const Slot& s = slots_[slot];
  MeetingSnapshot out;
  out.uid = BlobUid(s.blob.get());
  if (s.organizer != kNone) {
    const std::string& organizer = organizers_.values[s.organizer];
    const std::size_t nul = organizer.find('\0');
    out.organizer_email = organizer.substr(0, nul);
    out.organizer_name = organizer.substr(nul + 1);
  }
  if (s.status >= 0) {
    out.meeting_status = s.status;
  }
  out.attendee_count = s.attendees;
  out.updated_at = absl::FromUnixMillis(s.updated_ms);
  out.version = s.version;
  out.client_added = s.client_added != 0;
  out.disputed = s.disputed != 0;
  return out;
}

bool MeetingLedger::Contains(const LedgerKey& key) const {
  return FindSlot(key) != kNone;
}

std::optional<MeetingSnapshot> MeetingLedger::Get(const LedgerKey& key) const {
  const std::uint32_t slot = FindSlot(key);
  if (slot == kNone) {
    return std::nullopt;
  }
  return SnapshotOf(slot);
}

void MeetingLedger::Restore(const LedgerKey& key,
                            const MeetingSnapshot& entry) {
  if (FindSlot(key) != kNone) {
    return;
  }
  const MeetingFacts facts{entry.uid, entry.organizer_email,
                           entry.organizer_name, entry.meeting_status,
                           entry.attendee_count};
  if (Put(key, facts, entry.updated_at, entry.client_added) !=
      PutResult::kInserted) {
    return;
  }
  const std::uint32_t slot = FindSlot(key);
  if (slot == kNone) {
    return;  // a ledger that keeps nothing
  }
  slots_[slot].version = entry.version;
  slots_[slot].disputed = entry.disputed ? 1 : 0;
  SeedVersion(entry.version);
}

void MeetingLedger::SeedVersion(std::uint32_t version) {
  last_version_ = std::max(last_version_, version);
}

bool MeetingLedger::MarkDisputed(const LedgerKey& key) {
  const std::uint32_t slot = FindSlot(key);
  if (slot == kNone) {
    return false;
  }
  slots_[slot].disputed = 1;
  return true;
}

bool MeetingLedger::Remove(const LedgerKey& key) {
  const std::uint32_t slot = FindSlot(key);
  if (slot == kNone) {
    return false;
  }
  Erase(slot);
  return true;
}

}  // namespace hijackguard::detector
