// ZipArchive (zip_archive.hpp) on libzip.
#include "zip_archive.hpp"

#include <zip.h>

#include <algorithm>
#include <vector>

#include "ganpp/errors.hpp"

namespace ganpp {

ZipArchive::ZipArchive(const std::string& path) : path_(path) {
  int code = 0;
  zip_ = zip_open(path.c_str(), ZIP_RDONLY, &code);
  if (!zip_) {
    zip_error_t error;
    zip_error_init_with_code(&error, code);
    const std::string why = zip_error_strerror(&error);
    zip_error_fini(&error);
    throw RuntimeError("cannot open zip archive '" + abbreviate(path) + "': " + why);
  }
  const zip_int64_t n = zip_get_num_entries(zip_, 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    if (zip_stat_index(zip_, static_cast<zip_uint64_t>(i), 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME)) continue;
    Entry e;
    e.name = st.name;
    if (e.name.empty() || e.name.back() == '/') continue;  // a folder
    e.size = (st.valid & ZIP_STAT_SIZE) ? st.size : 0;
    e.crc = (st.valid & ZIP_STAT_CRC) ? st.crc : 0;
    e.index = static_cast<uint64_t>(i);
    entries_.push_back(std::move(e));
  }
}

ZipArchive::~ZipArchive() {
  if (zip_) zip_discard(zip_);
}

std::string ZipArchive::read(const Entry& entry) const {
  const std::string where = "'" + abbreviate(path_) + "' entry '" + abbreviate(entry.name) + "'";
  zip_file_t* file = zip_fopen_index(zip_, entry.index, 0);
  if (!file) throw RuntimeError("cannot read zip archive " + where + ": " + zip_strerror(zip_));
  // Read in pieces rather than allocated at the declared size at once: a forged size then costs only the bytes
  // that are really there.
  std::string bytes;
  std::vector<char> piece(std::min<uint64_t>(entry.size, uint64_t(1) << 20));
  std::string error;
  while (bytes.size() < entry.size) {
    const zip_int64_t got = zip_fread(file, piece.data(), std::min<uint64_t>(piece.size(), entry.size - bytes.size()));
    if (got < 0) {
      error = zip_file_strerror(file);
      break;
    }
    if (got == 0) {
      error = "it ends early";
      break;
    }
    bytes.append(piece.data(), static_cast<size_t>(got));
  }
  // Reading past the end makes libzip check the CRC-32 of a deflated entry.
  char probe = 0;
  if (error.empty() && zip_fread(file, &probe, 1) < 0) error = zip_file_strerror(file);
  zip_fclose(file);
  if (!error.empty()) throw RuntimeError("cannot read zip archive " + where + ": " + error);
  return bytes;
}

}  // namespace ganpp
