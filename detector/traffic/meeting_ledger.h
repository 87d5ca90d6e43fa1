// What the Exchange server last told a device about each meeting, so that a
// client's later Change can be compared with it.
//
// One entry per (tenant, mailbox, collection id, server id): the meeting's
// UID, organizer e-mail and name, MeetingStatus and attendee count, when that
// state was observed, and a few flags the detector keeps per entry. The
// ledger is bounded by an entry limit and a time-to-live; the oldest-updated
// entries go first and every eviction is counted.
//
// Layout, because a deployment keeps millions of entries: each entry is one
// 40-byte slot plus one small heap block holding its ids and UID (hex UIDs,
// which Exchange uses, are stored packed at half size); organizers are
// interned, since a few people organize most meetings. See the ledger
// benchmark for the resident size at one million entries.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"

namespace hijackguard::detector {

struct LedgerOptions {
  // Most entries kept; inserting beyond evicts the least recently updated.
  // Default 2,000,000.
  std::size_t max_entries = 2'000'000;
  // Entries not updated for this long are dropped. Default 30 days.
  absl::Duration ttl = absl::Hours(24 * 30);
};

struct LedgerKey {
  std::string_view tenant;
  std::string_view mailbox;  // normalized (lower case)
  std::string_view collection_id;
  std::string_view server_id;
};

// A meeting's state as the server sent it (or as the client added it).
struct MeetingFacts {
  std::string_view uid;
  std::string_view organizer_email;
  std::string_view organizer_name;
  std::optional<int> meeting_status;  // 0..15
  int attendee_count = 0;
};

// Owned copy of an entry, for callers that keep it.
struct MeetingSnapshot {
  std::string uid;
  std::string organizer_email;
  std::string organizer_name;
  std::optional<int> meeting_status;
  int attendee_count = 0;
  absl::Time updated_at;
  std::uint32_t version = 0;  // of this state; unique in the ledger
  bool client_added =
      false;              // the device created it (server id from Responses)
  bool disputed = false;  // see MeetingLedger::MarkDisputed
};

class MeetingLedger {
 public:
  // Limits on what one entry stores; longer values are refused by Put.
  static constexpr std::size_t kMaxIdBytes = 255;  // collection and server id
  static constexpr std::size_t kMaxUidBytes = 2048;
  static constexpr std::size_t kMaxOrganizerBytes = 1024;  // e-mail + name

  explicit MeetingLedger(LedgerOptions options = {});
  ~MeetingLedger();
  MeetingLedger(const MeetingLedger&) = delete;
  MeetingLedger& operator=(const MeetingLedger&) = delete;

  // kUnchanged: the same facts again (a retried response); only the time
  // moves. kStale: the entry holds a state observed after `at`; nothing
  // changes. kTooLarge: a value is over its limit; nothing is stored.
  enum class PutResult { kInserted, kUpdated, kUnchanged, kStale, kTooLarge };

  // Records `facts` for `key` as of `at`. A new state bumps the version. `at`
  // also drives time-to-live eviction.
  PutResult Put(const LedgerKey& key, const MeetingFacts& facts, absl::Time at,
                bool client_added = false);

  // The entry for `key`, or nullopt (never stored, evicted, or expired as of
  // `now`).
  std::optional<MeetingSnapshot> Find(const LedgerKey& key,
                                      absl::Time now) const;

  // Marks the entry disputed: a client rewrote its organizer or claimed it.
  // From then on the server echoing the client's version back (Exchange
  // accepts the rewrite and syncs it to the mailbox's devices) does not
  // replace the true organizer or the "received" bit of MeetingStatus. False
  // when there is no entry.
  bool MarkDisputed(const LedgerKey& key);

  // Removes the entry (a server Delete). True when one was removed.
  bool Remove(const LedgerKey& key);

  // For a ledger backed by a store: whether `key` is in memory; the entry
  // whatever its age; putting back an entry paged in (keeping its version
  // and flags; nothing when the key is present); and making new versions
  // start above `version`.
  bool Contains(const LedgerKey& key) const;
  std::optional<MeetingSnapshot> Get(const LedgerKey& key) const;
  void Restore(const LedgerKey& key, const MeetingSnapshot& entry);
  void SeedVersion(std::uint32_t version);
  std::uint32_t last_version() const { return last_version_; }

  std::size_t size() const { return index_.size(); }
  std::uint64_t evictions() const { return evictions_; }
  std::uint64_t expirations() const { return expirations_; }

 private:
  static constexpr std::uint32_t kNone = 0xFFFFFFFF;

  struct Slot {
    std::unique_ptr<char[]> blob;     // ids and UID; see meeting_ledger.cc
    std::uint32_t mailbox = kNone;    // into mailboxes_
    std::uint32_t organizer = kNone;  // into organizers_
    std::uint32_t prev = kNone;       // LRU list by update, head = newest
    std::uint32_t next = kNone;
    std::uint32_t version = 0;
    std::int64_t updated_ms = 0;  // Unix milliseconds
    std::uint16_t attendees = 0;
    std::int8_t status = -1;
    std::uint8_t client_added = 0;
    std::uint8_t disputed = 0;
  };

  // An interned string with a reference count.
  struct Pool {
    std::deque<std::string> values;  // stable addresses for `ids`
    std::vector<std::uint32_t> refs;
    std::vector<std::uint32_t> free;
    absl::flat_hash_map<std::string_view, std::uint32_t> ids;
    std::uint32_t Acquire(std::string_view value);
    void Release(std::uint32_t id);
    std::uint32_t Lookup(std::string_view value) const;
  };

  struct Probe {
    std::uint32_t mailbox;
    std::string_view collection_id;
    std::string_view server_id;
  };
  struct IndexHash {
    using is_transparent = void;
    const MeetingLedger* ledger;
    std::size_t operator()(std::uint32_t slot) const;
    std::size_t operator()(const Probe& probe) const;
  };
  struct IndexEq {
    using is_transparent = void;
    const MeetingLedger* ledger;
    bool operator()(std::uint32_t a, std::uint32_t b) const { return a == b; }
    bool operator()(std::uint32_t slot, const Probe& probe) const;
    bool operator()(const Probe& probe, std::uint32_t slot) const {
      return (*this)(slot, probe);
    }
  };

  Probe KeyOf(std::uint32_t slot) const;
  MeetingSnapshot SnapshotOf(std::uint32_t slot) const;
  std::uint32_t FindSlot(const LedgerKey& key) const;
  bool Expired(const Slot& slot, absl::Time now) const;
  bool Same(const Slot& slot, const MeetingFacts& facts,
            bool client_added) const;
  void Unlink(std::uint32_t slot);
  void PushFront(std::uint32_t slot);
  void Erase(std::uint32_t slot);
  void EvictFor(absl::Time now);
  static std::string MailboxKey(std::string_view tenant,
                                std::string_view mailbox);

  LedgerOptions options_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::uint32_t head_ = kNone;
  std::uint32_t tail_ = kNone;
  Pool mailboxes_;   // "tenant\0mailbox"
  Pool organizers_;  // "email\0name"
  absl::flat_hash_set<std::uint32_t, IndexHash, IndexEq> index_;
  std::uint32_t last_version_ = 0;
  std::uint64_t evictions_ = 0;
  std::uint64_t expirations_ = 0;
};

}  // namespace hijackguard::detector
