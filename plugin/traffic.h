// Traffic ingestion and device risk without the transport: converts
// ReportTrafficRequest into detector views, runs the TrafficDetector, and
// converts events back. The gRPC service and the CLI (replay) both use it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/clock.h"
#include "detector/traffic/traffic_detector.h"
#include "hijackguard/v1/compliance_plugin.pb.h"
#include "hijackguard/v1/traffic.pb.h"
#include "plugin/event_log.h"
#include "policy/engine.h"

namespace hijackguard::plugin {

inline constexpr std::size_t kMaxTargetBytes = std::size_t{8} * 1024;
inline constexpr std::size_t kMaxHeaders = 100;
inline constexpr std::size_t kMaxHeaderBytes = std::size_t{8} * 1024;
inline constexpr std::size_t kMaxCalendarFieldBytes = 1024;
// A gzip-compressed body is inflated up to this size.
inline constexpr std::size_t kMaxInflatedBodyBytes = 32 << 20;

// Thread-safe. `detector`, `clock` and `engine` must outlive the handler.
class TrafficHandler {
 public:
  // `engine` (may be null) re-decides each device whose traffic produced
  // events, so that alerts go out when the behaviour is seen.
  TrafficHandler(detector::TrafficDetector* detector, const Clock* clock,
                 policy::PolicyEngine* engine = nullptr);

  // Runs one observation; fills `ack` (sequence, events, errors). Problems
  // with the observation are errors in the ack, never a failure. Returns the
  // state store ticket to wait for before acknowledging (0: none).
  policy::StoreTicket Report(const v1::ReportTrafficRequest& request,
                             v1::TrafficAck* ack) const;

  // The ack for a message that could not be decoded (`why`): the sequence if
  // it can still be read, and an INVALID_ARGUMENT item error.
  static void Undecodable(const std::string& bytes, const absl::Status& why,
                          v1::TrafficAck* ack);

  // Called with (tenant, device id) for each device whose traffic produced
  // events (the gateway forgets its decision). Set before serving.
  void SetDeviceListener(
      std::function<void(std::string_view, std::string_view)> listener) {
    listener_ = std::move(listener);
  }

  // Writes each detection event to the log (may be null; set before
  // serving).
  void SetEventLog(const EventLog* log) { event_log_ = log; }

  // What became of the observations answered with an ack (the metrics'
  // hijackguard_observations_total{result}).
  enum class Outcome { kAccepted, kRejected, kRefused, kUnavailable };
  static constexpr std::size_t kOutcomes = 4;
  // Counts one ack by its item errors: none (or only EVENTS_TRUNCATED) is
  // accepted; UNAUTHENTICATED or PERMISSION_DENIED refused;
  // STATE_UNAVAILABLE unavailable; any other rejected. The services call it
  // once for every ack they send.
  void Count(const v1::TrafficAck& ack) const;
  std::array<std::uint64_t, kOutcomes> outcomes() const;

  // INVALID_ARGUMENT for a bad request, NOT_FOUND for an unknown device.
  [[nodiscard]] absl::Status GetDeviceRisk(
      const v1::GetDeviceRiskRequest& request,
      v1::GetDeviceRiskResponse* response) const;

 private:
  detector::TrafficDetector* detector_;
  const Clock* clock_;
  policy::PolicyEngine* engine_;
  std::function<void(std::string_view, std::string_view)> listener_;
  mutable std::array<std::atomic<std::uint64_t>, kOutcomes> outcomes_{};
  const EventLog* event_log_ = nullptr;
};

void ToProto(const detector::DetectionEvent& event, v1::DetectionEvent* out);
v1::EventKind ToProto(detector::EventKind kind);

}  // namespace hijackguard::plugin
