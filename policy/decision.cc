#include "policy/decision.h"

namespace hijackguard::policy {

std::string_view ActionName(Action action) {
  switch (action) {
    case Action::kAllow:
      return "ALLOW";
    case Action::kWarn:
      return "WARN";
    case Action::kQuarantine:
      return "QUARANTINE";
    case Action::kBlock:
      return "BLOCK";
  }
  return "ALLOW";
}

}  // namespace hijackguard::policy
