#include "core/ap/average_precision_histogram.h"

#include "gtest/gtest.h"
