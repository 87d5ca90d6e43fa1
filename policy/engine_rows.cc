// The engine's decision history rows: their format (what a device's row
// holds, and what the device list shows of it).
#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "common/record.h"
#include "common/strings.h"
#include "detector/fingerprint.h"
#include "policy/engine.h"

namespace hijackguard::policy {

namespace {
// 1: without the audited signature; 2: with it; 3: and the repeats since;
// 4: and what the device list shows (DeviceListing); 5: and when the row
// was written; 6: and the device's platform.
constexpr std::uint64_t kEngineDeviceFormat = 6;
}  // namespace

void PolicyEngine::EncodeDeviceState(const DeviceState& state,
                                     absl::Time written, std::string* out) {
  RecordWriter w(out);
  w.U64(kEngineDeviceFormat);
  w.Time(state.history.warn_since);
  w.I64(static_cast<int>(state.last_action));
  w.Bytes(state.mdm_device_id);
  w.Bytes(state.user_principal);
  w.U64(state.groups.size());
  for (const std::string& g : state.groups) {
    w.Bytes(g);
  }
  w.Bytes(state.locale);
  w.U64(state.audited);
  w.U64(state.repeats);
  w.I64(static_cast<int>(state.enforced_action));
  w.I64(static_cast<int>(state.level));
  w.Bytes(absl::StrFormat("%.17g", state.score));
  w.Bytes(state.build);
  w.Bytes(state.os_version);
  w.Bytes(state.model_name);
  w.Bytes(state.listed_user);
  w.Time(written);
  w.Bytes(state.platform);
}

absl::Status PolicyEngine::DecodeDeviceState(std::string_view value,
                                             DeviceState* state) {
  RecordReader r(value, "decision history row");
  int action = 0;
  std::uint64_t groups = 0;
  std::uint64_t format = 0;
  bool ok = r.U64("format", &format);
  if (ok && (format < 1 || format > kEngineDeviceFormat)) {
    ok = r.Invalid("format", StrCat("format ", format,
                                    " is not one this version reads (1 to ",
                                    kEngineDeviceFormat, ")"));
  }
  ok = ok && r.Time("warn_since", &state->history.warn_since) &&
       r.Int("last_action", &action);
  if (ok && (action < 0 || action > static_cast<int>(Action::kBlock))) {
    ok = r.Invalid("last_action", StrCat("action ", action, " is unknown"));
  }
  ok = ok && r.Bytes("mdm_device_id", &state->mdm_device_id) &&
       r.Bytes("user_principal", &state->user_principal) &&
       r.U64("groups", &groups);
  if (ok && groups > 4096) {
    ok = r.Invalid("groups", StrCat(groups, " groups is over the limit"));
  }
  for (std::uint64_t i = 0; ok && i < groups; ++i) {
    ok = r.Bytes("group", &state->groups.emplace_back());
  }
  ok = ok && r.Bytes("locale", &state->locale);
  if (ok && format >= 2) {
    ok = r.U64("audited", &state->audited);
  }
  if (ok && format >= 3) {
    ok = r.U64("repeats", &state->repeats);
  }
  int enforced = 0;
  int level = 0;
  std::string score;
  if (ok && format >= 4) {
    ok = r.Int("enforced_action", &enforced);
    if (ok && (enforced < 0 || enforced > static_cast<int>(Action::kBlock))) {
      ok = r.Invalid("enforced_action",
                     StrCat("action ", enforced, " is unknown"));
    }
    ok = ok && r.Int("level", &level);
    if (ok && (level < 0 || level > static_cast<int>(Level::kCritical))) {
      ok = r.Invalid("level", StrCat("level ", level, " is unknown"));
    }
    ok = ok && r.Bytes("score", &score);
    if (ok && (!absl::SimpleAtod(score, &state->score) ||
               !(state->score >= 0 && state->score <= 100))) {
      ok = r.Invalid("score", "not a number from 0 to 100");
    }
    ok = ok && r.Bytes("build", &state->build) &&
         r.Bytes("os_version", &state->os_version) &&
         r.Bytes("model_name", &state->model_name) &&
         r.Bytes("listed_user", &state->listed_user);
    // The row holds this score: a decision with the same one needs no write.
    state->written_score = state->score;
  }
  // When the row was written (format 5): without it the device's next
  // decision writes the row again, as the daily refresh would.
  if (ok && format >= 5) {
    ok = r.Time("written", &state->written);
  }
  // Without it (format 6) the device's next decision writes the row again.
  if (ok && format >= 6) {
    ok = r.Bytes("platform", &state->platform);
  }
  ok = ok && r.End();
  if (!ok) {
    return r.status();
  }
  state->last_action = static_cast<Action>(action);
  state->enforced_action = static_cast<Action>(enforced);
  state->level = static_cast<Level>(level);
  return absl::OkStatus();
}

void PolicyEngine::NoteListing(const Evaluation& eval,
                               const detector::Fingerprint& fp,
                               std::string_view user, absl::Time now,
                               DeviceState* state) {
  state->enforced_action = eval.enforced_action;
  state->level = eval.level;
  state->score = eval.score;
  state->platform = std::string(detector::PlatformName(fp.platform));
  state->build = fp.build ? fp.build->ToString() : std::string();
  state->os_version = fp.os_version ? fp.os_version->ToString() : std::string();
  state->model_name = fp.model_name;
  state->listed_user = std::string(user);
  state->decided_at = now;
}

DeviceListing PolicyEngine::ListingOf(std::string_view key,
                                      const DeviceState& state,
                                      absl::Time recorded_at) {
  DeviceListing d;
  d.key = std::string(key);
  const std::size_t newline = key.find('\n');
  d.tenant_id = std::string(key.substr(0, newline));
  const std::string_view id =
      newline == std::string_view::npos ? "" : key.substr(newline + 1);
  if (id.starts_with("e:")) {
    d.eas_device_id = std::string(id.substr(2));
    d.mdm_device_id = state.mdm_device_id;
  } else {
    d.mdm_device_id =
        std::string(id.substr(std::min<std::size_t>(2, id.size())));
  }
  d.user_principal = state.listed_user;
  d.enforced_action = state.enforced_action;
  d.evaluated_action = state.last_action;
  d.level = state.level;
  d.score = state.score;
  d.platform = state.platform;
  d.build = state.build;
  d.os_version = state.os_version;
  d.model_name = state.model_name;
  d.recorded_at = recorded_at;
  return d;
}

void PolicyEngine::AddHistoryRow(std::string_view key, const DeviceState& state,
                                 absl::Time written, EngineChanges* changes) {
  StoreRow& row = changes->devices.emplace_back();
  row.key = std::string(key);
  EncodeDeviceState(state, written, &row.value);
  row.time_ms =
      written == absl::InfinitePast() ? 0 : absl::ToUnixMillis(written);
  changes->listings.push_back(ListingOf(key, state, written));
}

}  // namespace hijackguard::policy
