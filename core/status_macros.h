// Early-return helpers for absl::Status and absl::StatusOr, which Abseil
// 20220623 does not ship.
//
//   FM_RETURN_IF_ERROR(ValidateTensor(scores, "batch.scores"));
//   FM_ASSIGN_OR_RETURN(std::vector<double> values, Decode(scores));
#ifndef FOCALMETRICS_CORE_STATUS_MACROS_H_
#define FOCALMETRICS_CORE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define FM_STATUS_CONCAT_INNER(a, b) a##b
#define FM_STATUS_CONCAT(a, b) FM_STATUS_CONCAT_INNER(a, b)

// Returns the status from the enclosing function when it is not OK.
#define FM_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status fm_status_ = (expr);      \
    if (!fm_status_.ok()) return fm_status_; \
  } while (false)

// Declares or assigns `lhs` from a StatusOr, returning its status on error.
#define FM_ASSIGN_OR_RETURN(lhs, expr) \
  FM_ASSIGN_OR_RETURN_IMPL(FM_STATUS_CONCAT(fm_statusor_, __LINE__), lhs, expr)

#define FM_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                             \
  if (!statusor.ok()) return statusor.status();       \
  lhs = std::move(statusor).value()

#endif  // FOCALMETRICS_CORE_STATUS_MACROS_H_
