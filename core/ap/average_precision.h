// Average precision (area under the precision-recall step curve, as
// scikit-learn's average_precision_score computes it) of one class, and the
// types shared by its exact and bounded-memory accumulators.
//
//   ExactAveragePrecision exact;
//   exact.Add(scores, is_positive);
//   ClassAveragePrecision ap = exact.Compute();   // ap.lower == ap.upper
#ifndef FOCALMETRICS_CORE_AP_AVERAGE_PRECISION_H_
#define FOCALMETRICS_CORE_AP_AVERAGE_PRECISION_H_

#include <cstdint>
#include <vector>

namespace focalmetrics {

// AP of one class. `estimate` is the AP itself when exact; in bounded-memory
// mode `lower <= exact AP <= upper` is certified and `estimate` lies between.
// A class without positives is `defined == false` (its AP fields are 0 and
// mean nothing).
struct ClassAveragePrecision {
  double estimate = 0.0;
  double lower = 0.0;
  double upper = 0.0;
  int64_t positives = 0;
  int64_t negatives = 0;
  bool defined = false;
  bool exact = true;
};

// Points of a precision-recall curve by decreasing threshold. Thresholds are
// in the accumulator's score space (see each accumulator).
struct PrecisionRecallPoints {
  std::vector<double> thresholds;
  std::vector<double> precision;
  std::vector<double> recall;
};

}  // namespace focalmetrics

#endif  // FOCALMETRICS_CORE_AP_AVERAGE_PRECISION_H_
