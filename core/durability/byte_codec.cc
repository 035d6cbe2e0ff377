#include "core/durability/byte_codec.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace focalmetrics {

void ByteWriter::PutFixed32(uint32_t v) {
  for (int i = 0; i < 4; ++i) PutU8(static_cast<uint8_t>(v >> (8 * i)));
}

void ByteWriter::PutFixed64(uint64_t v) {
  for (int i = 0; i < 8; ++i) PutU8(static_cast<uint8_t>(v >> (8 * i)));
}

void ByteWriter::PutVarint(uint64_t v) {
  while (v >= 0x80) {
    PutU8(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  PutU8(static_cast<uint8_t>(v));
}

void ByteWriter::PutSigned(int64_t v) {
  PutVarint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}

void ByteWriter::PutDouble(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  PutFixed64(bits);
}

void ByteWriter::PutString(absl::string_view s) {
  PutVarint(s.size());
  out_->append(s.data(), s.size());
}

void ByteWriter::PutDoubles(absl::Span<const double> values) {
  PutVarint(values.size());
  for (double v : values) PutDouble(v);
}

void ByteWriter::PutSignedVector(absl::Span<const int64_t> values) {
  PutVarint(values.size());
  for (int64_t v : values) PutSigned(v);
}

absl::Status ByteReader::Truncated(absl::string_view what) const {
  return absl::DataLossError(
      absl::StrCat("snapshot truncated while reading ", what));
}

absl::StatusOr<uint8_t> ByteReader::GetU8() {
  if (in_.empty()) return Truncated("a byte");
  const uint8_t v = static_cast<uint8_t>(in_[0]);
  in_.remove_prefix(1);
  return v;
}

absl::StatusOr<uint32_t> ByteReader::GetFixed32() {
  if (in_.size() < 4) return Truncated("a 32-bit value");
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
  in_.remove_prefix(4);
  return v;
}

absl::StatusOr<uint64_t> ByteReader::GetFixed64() {
  if (in_.size() < 8) return Truncated("a 64-bit value");
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
  in_.remove_prefix(8);
  return v;
}

absl::StatusOr<uint64_t> ByteReader::GetVarint() {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    FM_ASSIGN_OR_RETURN(const uint8_t byte, GetU8());
    v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return v;
  }
  return absl::DataLossError("snapshot: varint longer than 10 bytes");
}

absl::StatusOr<int64_t> ByteReader::GetSigned() {
  FM_ASSIGN_OR_RETURN(const uint64_t z, GetVarint());
  return static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1));
}

absl::StatusOr<double> ByteReader::GetDouble() {
  FM_ASSIGN_OR_RETURN(const uint64_t bits, GetFixed64());
  double v;
  std::memcpy(&v, &bits, sizeof(v));
  return v;
}

absl::StatusOr<uint64_t> ByteReader::GetCount(size_t min_bytes) {
  FM_ASSIGN_OR_RETURN(const uint64_t n, GetVarint());
  if (min_bytes > 0 && n > in_.size() / min_bytes) {
    return absl::DataLossError(absl::StrCat(
        "snapshot: count ", n, " exceeds the ", in_.size(), " bytes left"));
  }
  return n;
}

absl::StatusOr<std::string> ByteReader::GetString() {
  FM_ASSIGN_OR_RETURN(const uint64_t n, GetCount(1));
  std::string s(in_.substr(0, n));
  in_.remove_prefix(n);
  return s;
}

absl::StatusOr<std::vector<double>> ByteReader::GetDoubles() {
  FM_ASSIGN_OR_RETURN(const uint64_t n, GetCount(8));
  std::vector<double> values(n);
  for (double& v : values) {
    FM_ASSIGN_OR_RETURN(v, GetDouble());
  }
  return values;
}

absl::StatusOr<std::vector<int64_t>> ByteReader::GetSignedVector() {
  FM_ASSIGN_OR_RETURN(const uint64_t n, GetCount(1));
  std::vector<int64_t> values(n);
  for (int64_t& v : values) {
    FM_ASSIGN_OR_RETURN(v, GetSigned());
  }
  return values;
}

}  // namespace focalmetrics
