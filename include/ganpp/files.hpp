// File output that never leaves a half-written file: write to a temporary name, flush, fsync, rename.
#pragma once

#include <string>

namespace ganpp {

/// Writes `bytes` to `path` atomically (temporary file in the same folder, fsync, rename).
/// Throws RuntimeError naming the path on any failure; an existing `path` is untouched then.
void write_file_atomic(const std::string& path, const std::string& bytes);

/// Reads a whole file; throws RuntimeError naming the path when it is missing or unreadable.
std::string read_file(const std::string& path);

/// Suffix of the temporary files write_file_atomic creates (never mistaken for real output).
inline constexpr const char* kTempSuffix = ".tmp";

}  // namespace ganpp
