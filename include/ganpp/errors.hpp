// Error types of ganpp. The library throws; only the CLI's main catches and maps to exit codes:
// UsageError (bad invocation or config, found before data is read) -> 2, everything else -> 1.
#pragma once

#include <stdexcept>
#include <string>

namespace ganpp {

/// Base of every error ganpp reports to a user: one message naming what failed, where and what to do.
class Error : public std::runtime_error {
 public:
  Error(const std::string& message, int exit_code) : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

/// The invocation or the config is wrong (unknown key, bad value, incompatible combination): exit 2.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(message, 2) {}
};

/// Missing, unreadable or corrupt data, checkpoints or files; failed writes; non-finite losses: exit 1.
class RuntimeError : public Error {
 public:
  explicit RuntimeError(const std::string& message) : Error(message, 1) {}
};

/// The first line of a (possibly multi-line, backtrace-carrying) LibTorch error message.
std::string first_line(const std::string& message);

/// A user-given value or path as an error message shows it: whole up to 160 characters, else its first 100
/// and last 40 characters with "…(N characters omitted)…" between (cut at UTF-8 character boundaries).
std::string abbreviate(const std::string& value);

/// Whether `e` says that memory ran out: std::bad_alloc, or a LibTorch error from an allocator (CPU: "can't
/// allocate memory" or "not enough memory", CUDA: "out of memory"). Never true for ganpp's own errors.
bool is_out_of_memory(const std::exception& e);

}  // namespace ganpp
