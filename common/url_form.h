// Reading application/x-www-form-urlencoded text (a form's body, a URL's
// query): names and values percent-decoded, '+' as a space.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace hijackguard {

using FormFields = std::vector<std::pair<std::string, std::string>>;

// INVALID_ARGUMENT naming the byte offset of a bad percent escape, of a
// field without '=' (unless `bare_names`, where "a&b=1" is a="" and b="1",
// as in a query), or of decoded text that is not UTF-8; more than
// `max_fields` fields is refused too.
absl::StatusOr<FormFields> ParseForm(std::string_view body,
                                     std::size_t max_fields = 64,
                                     bool bare_names = false);

// The first value of `name`, or "".
std::string_view FormValue(const FormFields& fields, std::string_view name);

}  // namespace hijackguard
