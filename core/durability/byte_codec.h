// Little-endian, platform-independent encoding of the values a snapshot is
// made of. ByteReader never reads past its input: every Get reports
// truncation as DATA_LOSS instead.
//
//   ByteWriter w(&out);  w.PutVarint(7);  w.PutString("focal");
//   ByteReader r(out);   FM_ASSIGN_OR_RETURN(uint64_t n, r.GetVarint());
#ifndef FOCALMETRICS_CORE_DURABILITY_BYTE_CODEC_H_
#define FOCALMETRICS_CORE_DURABILITY_BYTE_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace focalmetrics {

class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}
  void PutU8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void PutFixed32(uint32_t v);
  void PutFixed64(uint64_t v);
  void PutVarint(uint64_t v);
  void PutSigned(int64_t v);  // Zig-zag varint.
  void PutDouble(double v);
  void PutString(absl::string_view s);  // Length-prefixed.
  void PutDoubles(absl::Span<const double> values);
  void PutSignedVector(absl::Span<const int64_t> values);

 private:
  std::string* out_;
};

class ByteReader {
 public:
  explicit ByteReader(absl::string_view in) : in_(in) {}
  absl::StatusOr<uint8_t> GetU8();
  absl::StatusOr<uint32_t> GetFixed32();
  absl::StatusOr<uint64_t> GetFixed64();
  absl::StatusOr<uint64_t> GetVarint();
  absl::StatusOr<int64_t> GetSigned();
  absl::StatusOr<double> GetDouble();
  absl::StatusOr<std::string> GetString();
  absl::StatusOr<std::vector<double>> GetDoubles();
  absl::StatusOr<std::vector<int64_t>> GetSignedVector();
  // A count of elements that each take at least `min_bytes`: DATA_LOSS when
  // the rest of the input cannot hold them (so a corrupt count cannot make a
  // reader allocate gigabytes).
  absl::StatusOr<uint64_t> GetCount(size_t min_bytes);

  absl::string_view remaining() const { return in_; }
  // Advances past `n` bytes consumed by someone else.
  void Skip(size_t n) { in_.remove_prefix(n); }
  bool empty() const { return in_.empty(); }

 private:
  absl::Status Truncated(absl::string_view what) const;
  absl::string_view in_;
};

}  // namespace focalmetrics

#endif  // FOCALMETRICS_CORE_DURABILITY_BYTE_CODEC_H_
