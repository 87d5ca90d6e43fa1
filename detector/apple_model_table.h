// The table of Apple models (apple_model_table.cc). Internal to detector/:
// use AllAppleModels() and FindAppleModel() (detector/apple_models.h).
#pragma once

#include <span>

#include "detector/apple_models.h"

namespace hijackguard::detector::internal {

std::span<const AppleModel> AppleModelTable();

}  // namespace hijackguard::detector::internal
