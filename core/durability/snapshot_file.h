// The on-disk form of one run's snapshot, and writing it so that a crash at
// any moment leaves either the old file or the new one, never a mix:
// write to a temporary file, fsync it, rename it over the old one, fsync the
// directory.
//
// Layout: "FMSNAP\r\n" (8 bytes) | version u32 | body length u64 | CRC32C u32
// of the version, length and body | body. Little-endian.
//
//   FM_RETURN_IF_ERROR(WriteFileAtomically(dir, "run.snap",
//   EncodeSnapshot(body))); FM_ASSIGN_OR_RETURN(std::string body,
//   DecodeSnapshot(ReadWholeFile(path)));
#ifndef FOCALMETRICS_CORE_DURABILITY_SNAPSHOT_FILE_H_
#define FOCALMETRICS_CORE_DURABILITY_SNAPSHOT_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace focalmetrics {

inline constexpr uint32_t kSnapshotVersion = 1;
inline constexpr size_t kSnapshotHeaderBytes = 8 + 4 + 8 + 4;

// CRC-32C (Castagnoli), as in iSCSI, ext4 and LevelDB.
uint32_t Crc32c(absl::string_view data, uint32_t crc = 0);

// `version` is for tests and tools that need a file of another version.
std::string EncodeSnapshot(absl::string_view body,
                           uint32_t version = kSnapshotVersion);

// The body of an encoded snapshot. DATA_LOSS for an empty or truncated file,
// a wrong magic, a checksum mismatch (a torn or corrupted write);
// FAILED_PRECONDITION for a version newer than this server's (written by a
// later release: kept aside, not misread).
absl::StatusOr<std::string> DecodeSnapshot(absl::string_view file);

// Writes `contents` to dir/name atomically and durably (see above). On error
// the temporary file is removed and any old dir/name is untouched.
absl::Status WriteFileAtomically(const std::string& dir,
                                 const std::string& name,
                                 absl::string_view contents);

absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

}  // namespace focalmetrics

#endif  // FOCALMETRICS_CORE_DURABILITY_SNAPSHOT_FILE_H_
