#include "core/durability/snapshot_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "core/durability/byte_codec.h"
#include "core/status_macros.h"

namespace focalmetrics {
namespace {

constexpr char kMagic[] = "FMSNAP\r\n";

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? (0x82F63B78u ^ (c >> 1)) : (c >> 1);
    table[i] = c;
  }
  return table;
}

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  const int error = errno;
  const std::string message =
      absl::StrCat(what, " ", path, ": ", std::strerror(error));
  // A full disk or quota is RESOURCE_EXHAUSTED; anything else is UNAVAILABLE
  // (the disk may come back).
  if (error == ENOSPC || error == EDQUOT || error == EFBIG) {
    return absl::ResourceExhaustedError(message);
  }
  return absl::UnavailableError(message);
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t written = ::write(fd, data.data(), data.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot write", path);
    }
    data.remove_prefix(static_cast<size_t>(written));
  }
  return absl::OkStatus();
}

}  // namespace

uint32_t Crc32c(absl::string_view data, uint32_t crc) {
  static const std::array<uint32_t, 256> kTable = MakeCrcTable();
  crc = ~crc;
  for (char ch : data)
    crc = kTable[(crc ^ static_cast<uint8_t>(ch)) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::string EncodeSnapshot(absl::string_view body, uint32_t version) {
  std::string checked;
  ByteWriter w(&checked);
  w.PutFixed32(version);
  w.PutFixed64(body.size());
  checked.append(body.data(), body.size());
  std::string out(kMagic, 8);
  ByteWriter header(&out);
  header.PutFixed32(version);
  header.PutFixed64(body.size());
  header.PutFixed32(Crc32c(checked));
  out.append(body.data(), body.size());
  return out;
}

absl::StatusOr<std::string> DecodeSnapshot(absl::string_view file) {
  if (file.empty()) return absl::DataLossError("snapshot is empty");
  if (file.size() < kSnapshotHeaderBytes) {
    return absl::DataLossError(absl::StrCat("snapshot truncated: ", file.size(),
                                            " bytes, header alone is ",
                                            kSnapshotHeaderBytes));
  }
  if (file.substr(0, 8) != absl::string_view(kMagic, 8)) {
    return absl::DataLossError(
        "snapshot has no focalmetrics header (wrong magic)");
  }
  ByteReader header(file.substr(8, kSnapshotHeaderBytes - 8));
  FM_ASSIGN_OR_RETURN(const uint32_t version, header.GetFixed32());
  FM_ASSIGN_OR_RETURN(const uint64_t length, header.GetFixed64());
  FM_ASSIGN_OR_RETURN(const uint32_t crc, header.GetFixed32());
  const absl::string_view body = file.substr(kSnapshotHeaderBytes);
  if (body.size() != length) {
    return absl::DataLossError(
        absl::StrCat("snapshot truncated or torn: body is ", body.size(),
                     " bytes, header says ", length));
  }
  std::string checked = std::string(file.substr(8, 12));
  checked.append(body.data(), body.size());
  if (Crc32c(checked) != crc) {
    return absl::DataLossError(
        "snapshot checksum mismatch (corrupted or torn write)");
  }
  if (version > kSnapshotVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot version ", version,
                     " is newer than this server's ", kSnapshotVersion));
  }
  if (version == 0)
    return absl::DataLossError("snapshot version 0 does not exist");
  return std::string(body);
}

absl::Status WriteFileAtomically(const std::string& dir,
                                 const std::string& name,
                                 absl::string_view contents) {
  const std::string path = absl::StrCat(dir, "/", name);
  const std::string temp = absl::StrCat(path, ".tmp");
  const int fd =
      ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", temp);
  absl::Status status = WriteAll(fd, contents, temp);
  if (status.ok() && ::fsync(fd) != 0)
    status = ErrnoError("cannot fsync", temp);
  if (::close(fd) != 0 && status.ok())
    status = ErrnoError("cannot close", temp);
  if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    status = ErrnoError("cannot rename into", path);
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  // The rename itself is durable only once the directory is.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return ErrnoError("cannot open", dir);
  const bool synced = ::fsync(dir_fd) == 0;
  ::close(dir_fd);
  if (!synced) return ErrnoError("cannot fsync", dir);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace focalmetrics
