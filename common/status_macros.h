// Early-return helpers for absl::Status and absl::StatusOr (Debian's Abseil
// ships none).
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define HG_STATUS_CONCAT_INNER_(a, b) a##b
#define HG_STATUS_CONCAT_(a, b) HG_STATUS_CONCAT_INNER_(a, b)

// RETURN_IF_ERROR(expr): evaluates `expr` (an absl::Status) and returns it from
// the enclosing function when it is not OK.
#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    absl::Status hg_status_tmp_ = (expr);            \
    if (!hg_status_tmp_.ok()) return hg_status_tmp_; \
  } while (false)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>); on
// error returns its status, otherwise moves the value into `lhs` (which may be
// a declaration: `auto x`).
#define ASSIGN_OR_RETURN(lhs, expr)                                         \
  HG_ASSIGN_OR_RETURN_IMPL_(HG_STATUS_CONCAT_(hg_statusor_, __LINE__), lhs, \
                            expr)

// NOLINTBEGIN(bugprone-macro-parentheses): `lhs` is a declaration.
#define HG_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr)     \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)
// NOLINTEND(bugprone-macro-parentheses)
