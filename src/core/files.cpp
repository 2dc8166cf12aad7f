// Atomic file writes and whole-file reads with errors that name the path.
#include "ganpp/files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ganpp/errors.hpp"
#include "ganpp/fault.hpp"

namespace ganpp {

void write_file_atomic(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + kTempSuffix;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw RuntimeError("cannot write '" + path + "': " + std::strerror(errno));
  const std::string fault = "write:" + std::filesystem::path(path).filename().string();
  size_t written = 0;
  while (written < bytes.size()) {
    // Test-only: a kill halfway through the file (fault.hpp).
    const size_t chunk = written < bytes.size() / 2 ? bytes.size() / 2 - written : bytes.size() - written;
    if (written == bytes.size() / 2 && written > 0) fault_point(fault);
    const ssize_t n = ::write(fd, bytes.data() + written, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw RuntimeError("cannot write '" + path + "': " + std::strerror(err));
    }
    written += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const int sync_err = errno;
  const bool closed = ::close(fd) == 0;
  if (!synced || !closed) {
    const int err = synced ? errno : sync_err;
    ::unlink(tmp.c_str());
    throw RuntimeError("cannot write '" + path + "': " + std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw RuntimeError("cannot write '" + path + "': " + std::strerror(err));
  }
}

std::string read_file(const std::string& path) {
  if (!std::filesystem::exists(path)) throw RuntimeError("file not found: '" + path + "'");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RuntimeError("cannot read '" + path + "': " + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw RuntimeError("cannot read '" + path + "'");
  return buffer.str();
}

}  // namespace ganpp
