// TrafficDetector::ListRepairs: the repair list a device at a time, from the
// store's event rows in key order (a device's events are one key range), or
// from memory without a store.
#include <algorithm>

#include "common/status_macros.h"
#include "common/strings.h"
#include "detector/traffic/detector_rows.h"
#include "detector/traffic/detector_state.h"
#include "detector/traffic/device_cache.h"
#include "detector/traffic/traffic_detector.h"

namespace hijackguard::detector {
namespace {

// Event rows read per store page, and at most per list page: a fleet whose
// events need no repair is not read whole for one page.
constexpr std::size_t kEventsPerRead = 512;
constexpr std::size_t kMaxEventsPerPage = 20'000;

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    out += kDigits[u >> 4];
    out += kDigits[u & 15];
  }
  return out;
}

absl::StatusOr<std::string> Unhex(std::string_view text) {
  auto digit = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
    const int hi = digit(text[i]);
    const int lo = digit(text[i + 1]);
    if (hi < 0 || lo < 0) break;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  if (out.size() * 2 != text.size() || out.empty()) {
    return absl::InvalidArgumentError(
        "page_token: not a token the repair list gave");
  }
  return out;
}

// The store key prefix of a tenant's devices: DeviceStoreKey's first part.
std::string TenantPrefix(std::string_view tenant) {
  if (tenant.empty()) return {};
  const std::string key = DeviceStoreKey(tenant, "");
  return key.substr(0, key.size() - 1);  // without the empty id's length
}

}  // namespace

absl::StatusOr<RepairPage> TrafficDetector::ListRepairs(
    std::string_view tenant_id, std::string_view page_token,
    std::size_t page_size) const {
  if (page_size > kMaxRepairPageSize) {
    return absl::InvalidArgumentError(StrCat(
        "page_size ", page_size, " is over the limit of ", kMaxRepairPageSize));
  }
  if (page_size == 0) page_size = kDefaultRepairPageSize;
  const std::string prefix = TenantPrefix(tenant_id);
  std::string after;  // the last device of the page before
  if (!page_token.empty()) {
    ASSIGN_OR_RETURN(after, Unhex(page_token));
    if (!after.starts_with(prefix)) {
      return absl::InvalidArgumentError(
          "page_token: a token of another tenant's repair list");
    }
  }
  RepairPage page;
  DetectorStore* store = nullptr;
  {
    absl::MutexLock lock(&mu_);
    store = store_;
    if (store == nullptr) {
      // Every device is in memory: those of the tenant, in key order.
      std::vector<std::pair<std::string, const TrackedDevice*>> devices;
      for (const TrackedDevice* d : devices_->InMemory()) {
        std::string key = DeviceStoreKey(d->tenant, d->eas_device_id);
        if (key.starts_with(prefix) && key > after &&
            (!d->confirmed.empty() || !d->events.empty())) {
          devices.emplace_back(std::move(key), d);
        }
      }
      std::sort(devices.begin(), devices.end());
      for (const auto& [key, d] : devices) {
        if (page.items.size() >= page_size) {
          page.next_page_token = Hex(after);
          break;
        }
        std::vector<DetectionEvent> events(d->confirmed.begin(),
                                           d->confirmed.end());
        events.insert(events.end(), d->events.begin(), d->events.end());
        AddRepairItems(events, &page.items);
        after = key;
      }
      return page;
    }
  }
  // With a store: its event rows after the last device of the page before
  // (past every id of that device), outside the detector's lock.
  std::string from =
      after.empty() ? std::string() : after + std::string(8, '\xFF');
  std::string device;  // the key of the device whose events are in `events`
  std::vector<DetectionEvent> events;
  std::size_t read = 0;
  while (true) {
    std::vector<std::pair<std::string, std::string>> rows;
    if (absl::Status s =
            store->LoadEventsAfter(prefix, from, kEventsPerRead, &rows);
        !s.ok()) {
      return s;
    }
    for (auto& [key, value] : rows) {
      if (key.size() < 8) continue;
      const std::string_view owner = std::string_view(key).substr(
          0, key.size() - 8);  // the device key, without the event id
      if (owner != device) {
        if (!device.empty()) {
          AddRepairItems(events, &page.items);
          events.clear();
          after = device;
          if (page.items.size() >= page_size || read >= kMaxEventsPerPage) {
            page.next_page_token = Hex(after);
            return page;
          }
        }
        device = std::string(owner);
      }
      DetectionEvent& e = events.emplace_back();
      if (absl::Status s = DecodeEvent(value, &e); !s.ok()) {
        return absl::DataLossError(
            StrCat("an event row cannot be read: ",
                   std::string_view(s.message().data(), s.message().size())));
      }
      ++read;
    }
    if (rows.size() < kEventsPerRead) break;
    from = rows.back().first;
  }
  if (!device.empty()) AddRepairItems(events, &page.items);
  return page;
}

}  // namespace hijackguard::detector
