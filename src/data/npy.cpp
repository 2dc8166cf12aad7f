// .npy arrays and .npz archives of them as a source: uint8 images [N, H, W] or [N, H, W, C] / [N, C, H, W]
// (data.layout), and in a .npz optional integer labels [N]. A .npy is memory-mapped; a .npz's images array is
// read into memory through libzip (inflated by zlib when it was saved compressed).
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>

#include "source.hpp"
#include "zip_archive.hpp"

#include "ganpp/checksum.hpp"
#include "ganpp/errors.hpp"

namespace fs = std::filesystem;

namespace ganpp {
namespace {

// A plain (not structured) array in .npy format, viewing bytes owned elsewhere.
struct NpyArray {
  std::string descr;  // e.g. "|u1", "<i8"
  char kind = 0;      // 'u', 'i', 'f', 'b', ...
  int itemsize = 0;
  bool big_endian = false;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;

  double elements() const {  // as a double: a forged shape must not overflow before it is refused
    double n = 1;
    for (int64_t d : shape) n *= double(d);
    return n;
  }
  std::string shape_text() const {
    std::string out = "[";
    for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
    return out + "]";
  }
};

// The value after `'key':` in a .npy header (a Python dict literal), up to the next top-level comma or brace.
std::string header_value(const std::string& header, const std::string& key) {
  size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) at = header.find("\"" + key + "\"");
  if (at == std::string::npos) return "";
  at = header.find(':', at);
  if (at == std::string::npos) return "";
  size_t end = at + 1;
  for (int depth = 0; end < header.size(); ++end) {
    const char c = header[end];
    if (c == '(' || c == '[') ++depth;
    if (c == ')' || c == ']') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
    if (depth < 0) break;
  }
  std::string v = header.substr(at + 1, end - at - 1);
  v.erase(0, v.find_first_not_of(" \t"));
  v.erase(v.find_last_not_of(" \t") + 1);
  return v;
}

NpyArray parse_npy(const uint8_t* bytes, size_t size, const std::string& name) {
  auto bad = [&](const std::string& why) {
    return RuntimeError("'" + abbreviate(name) + "' is not a readable .npy array (" + why +
                        "); save it with numpy.save or numpy.savez");
  };
  static const char kMagic[] = "\x93NUMPY";
  if (size < 10 || std::memcmp(bytes, kMagic, 6) != 0) throw bad("it does not start with \\x93NUMPY");
  const int major = bytes[6];
  if (major < 1 || major > 3) throw bad("format version " + std::to_string(major) + " is unknown");
  const size_t length_bytes = major == 1 ? 2 : 4;
  if (size < 8 + length_bytes) throw bad("its header is cut short");
  const size_t header_length = load_le(reinterpret_cast<const char*>(bytes) + 8, static_cast<int>(length_bytes));
  const size_t data_offset = 8 + length_bytes + header_length;
  if (data_offset > size) throw bad("its header is cut short");
  const std::string header(reinterpret_cast<const char*>(bytes) + 8 + length_bytes, header_length);

  NpyArray a;
  std::string descr = header_value(header, "descr");
  if (descr.size() < 3 || (descr.front() != '\'' && descr.front() != '"') || descr.back() != descr.front())
    throw bad("its dtype is not a plain type: '" + abbreviate(descr) + "'");
  a.descr = descr.substr(1, descr.size() - 2);
  size_t at = 0;
  if (!a.descr.empty() && std::strchr("<>|=", a.descr[0])) a.big_endian = a.descr[at++] == '>';
  if (at >= a.descr.size()) throw bad("its dtype '" + a.descr + "' is not a plain type");
  a.kind = a.descr[at++];
  try {
    a.itemsize = std::stoi(a.descr.substr(at));
  } catch (const std::exception&) {
    throw bad("its dtype '" + a.descr + "' is not a plain type");
  }
  if (header_value(header, "fortran_order") == "True")
    throw RuntimeError("'" + abbreviate(name) +
                       "' is stored in Fortran order; save numpy.ascontiguousarray(x) instead");
  const std::string shape = header_value(header, "shape");
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')') throw bad("its shape cannot be read");
  for (size_t p = 1; p + 1 < shape.size();) {
    const size_t comma = std::min(shape.find(',', p), shape.size() - 1);
    std::string dim = shape.substr(p, comma - p);
    dim.erase(std::remove_if(dim.begin(), dim.end(), [](char c) { return c == ' ' || c == 'L'; }), dim.end());
    if (!dim.empty()) {
      if (dim.find_first_not_of("0123456789") != std::string::npos || dim.size() > 12)
        throw bad("its shape " + shape + " cannot be read");
      a.shape.push_back(std::stoll(dim));
    }
    p = comma + 1;
  }
  const double needed = a.elements() * a.itemsize;
  if (a.itemsize <= 0 || needed > double(size - data_offset))
    throw RuntimeError("'" + abbreviate(name) + "' is truncated: its shape " + a.shape_text() + " of " + a.descr +
                       " needs " + std::to_string(static_cast<uint64_t>(needed)) + " bytes of data, it holds " +
                       std::to_string(size - data_offset));
  a.data = bytes + data_offset;
  return a;
}

// How an images array is laid out: [N, H, W, C] or [N, C, H, W] ([N, H, W] is one channel).
struct ImageLayout {
  int64_t count = 0, height = 0, width = 0, channels = 1;
  bool channels_first = false;
};

ImageLayout image_layout(const NpyArray& a, const std::string& name, const std::string& layout) {
  const std::string where = "'" + abbreviate(name) + "'";
  if (a.kind != 'u' || a.itemsize != 1)
    throw RuntimeError(where + " holds " + a.descr + " values; ganpp reads uint8 images (pixels 0 to 255): save " +
                       "x.astype(numpy.uint8)");
  ImageLayout l;
  if (a.shape.size() == 3) {
    l = {a.shape[0], a.shape[1], a.shape[2], 1, false};
  } else if (a.shape.size() == 4) {
    auto is_channels = [](int64_t d) { return d >= 1 && d <= 4; };
    const bool last = is_channels(a.shape[3]), first = is_channels(a.shape[1]);
    bool channels_first = false;
    if (layout == "nchw" || layout == "nhwc") {
      channels_first = layout == "nchw";
      if (!(channels_first ? first : last))
        throw RuntimeError(where + " has shape " + a.shape_text() + ", which is not " +
                           (channels_first ? "[N, C, H, W]" : "[N, H, W, C]") +
                           " with 1 to 4 channels (data.layout = " + layout + ")");
    } else if (last != first) {
      channels_first = first;
    } else {
      throw RuntimeError(where + " has shape " + a.shape_text() + ": " +
                         (last ? "its layout is ambiguous"
                               : "neither [N, H, W, C] nor [N, C, H, W] with 1 to 4 channels") +
                         "; set data.layout to \"nhwc\" or \"nchw\"");
    }
    l.count = a.shape[0];
    l.channels = channels_first ? a.shape[1] : a.shape[3];
    l.height = channels_first ? a.shape[2] : a.shape[1];
    l.width = channels_first ? a.shape[3] : a.shape[2];
    l.channels_first = channels_first;
  } else {
    throw RuntimeError(where + " has shape " + a.shape_text() +
                       "; ganpp reads images as [N, H, W], [N, H, W, C] or [N, C, H, W]");
  }
  if (l.count == 0 || l.height == 0 || l.width == 0) throw RuntimeError(where + " holds no images");
  constexpr int64_t kMaxSide = 65535;
  if (l.height > kMaxSide || l.width > kMaxSide)
    throw RuntimeError(where + " has shape " + a.shape_text() + ": images of " + std::to_string(l.height) + "x" +
                       std::to_string(l.width) + " pixels, more than " + std::to_string(kMaxSide) +
                       " per side; check data.layout");
  return l;
}

std::vector<int64_t> read_labels(const NpyArray& a, int64_t count, const std::string& name) {
  const std::string where = "'" + abbreviate(name) + "'";
  if ((a.kind != 'i' && a.kind != 'u') || (a.itemsize != 1 && a.itemsize != 2 && a.itemsize != 4 && a.itemsize != 8))
    throw RuntimeError(where + " holds " + a.descr + " values; labels must be integers (class indices)");
  if (a.shape.size() != 1 || a.shape[0] != count)
    throw RuntimeError(where + " has shape " + a.shape_text() + "; labels must be one per image: [" +
                       std::to_string(count) + "]");
  std::vector<int64_t> labels(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const uint8_t* p = a.data + i * a.itemsize;
    uint64_t v = 0;
    for (int b = 0; b < a.itemsize; ++b) v |= uint64_t(p[a.big_endian ? a.itemsize - 1 - b : b]) << (8 * b);
    const bool negative = a.kind == 'i' && (v >> (8 * a.itemsize - 1)) & 1;
    if (negative || v > uint64_t(INT32_MAX))
      throw RuntimeError(where + " gives image " + std::to_string(i) +
                         " a label out of range; labels must be class indices 0, 1, 2, ...");
    labels[static_cast<size_t>(i)] = static_cast<int64_t>(v);
  }
  return labels;
}

}  // namespace

ImageSource open_array(const DataConfig& config) {
  ImageSource source;
  const std::string file_name = fs::path(config.path).filename().string();
  std::shared_ptr<const void> owner;  // what keeps the images' bytes
  NpyArray images;
  std::string images_name = config.path;
  if (source_kind(config) == SourceKind::npy) {
    source.kind = SourceKind::npy;
    const auto mapped = map_file(config.path);
    images = parse_npy(mapped->data, mapped->size, config.path);
    owner = mapped;
    source.fingerprint = names_and_sizes_fingerprint({{file_name, mapped->size}});
  } else {
    source.kind = SourceKind::npz;
    const ZipArchive zip(config.path);
    const ZipArchive::Entry* images_entry = nullptr;
    const ZipArchive::Entry* labels_entry = nullptr;
    std::string arrays;
    std::vector<std::pair<std::string, uint64_t>> fingerprinted;
    for (const auto& e : zip.entries()) {
      if (e.name == "images.npy") images_entry = &e;
      if (e.name == "labels.npy") labels_entry = &e;
      arrays += (arrays.empty() ? "" : ", ") + e.name.substr(0, e.name.size() - (e.name.size() > 4 ? 4 : 0));
      fingerprinted.emplace_back(e.name + "#" + std::to_string(e.crc), e.size);
    }
    if (!images_entry)
      throw RuntimeError("'" + abbreviate(config.path) + "' holds no array named 'images' (it holds: " +
                         (arrays.empty() ? "nothing" : abbreviate(arrays)) +
                         "); save it with numpy.savez(path, images=x, labels=y)");
    images_name = config.path + ":images.npy";
    auto bytes = std::make_shared<std::string>(zip.read(*images_entry));
    images = parse_npy(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size(), images_name);
    owner = bytes;
    source.fingerprint = names_and_sizes_fingerprint(fingerprinted);
    if (labels_entry) {
      const std::string labels_name = config.path + ":labels.npy";
      const std::string label_bytes = zip.read(*labels_entry);
      const NpyArray labels = parse_npy(reinterpret_cast<const uint8_t*>(label_bytes.data()), label_bytes.size(),
                                        labels_name);
      source.labels = read_labels(labels, images.shape.empty() ? 0 : images.shape[0], labels_name);
    }
  }
  const ImageLayout layout = image_layout(images, images_name, config.layout);
  source.description = kind_name(source.kind) + " " + config.path;
  source.state = file_state_line(config.path, file_name);
  source.count = config.limit > 0 ? std::min(layout.count, config.limit) : layout.count;
  if (!source.labels.empty()) {
    // Classes come from every label, so that data.limit does not change the class list (as for IDX).
    const int64_t classes = *std::max_element(source.labels.begin(), source.labels.end()) + 1;
    for (int64_t c = 0; c < classes; ++c) source.classes.push_back(std::to_string(c));
    source.labels.resize(static_cast<size_t>(source.count));
  }
  const uint8_t* base = images.data;
  source.decode = [owner, base, layout, config](int64_t begin, int64_t end, uint8_t* out, int threads) {
    const size_t plane = static_cast<size_t>(layout.height * layout.width);
    const size_t in_bytes = plane * static_cast<size_t>(layout.channels);
    const auto out_bytes = static_cast<size_t>(config.channels * config.image_size * config.image_size);
    const bool as_stored = layout.channels_first && layout.channels == config.channels &&
                           layout.height == config.image_size && layout.width == config.image_size;
    if (as_stored) {
      std::memcpy(out, base + begin * in_bytes, (end - begin) * in_bytes);
      return;
    }
    parallel_for(begin, end, threads, [&](int64_t i, int) {
      const uint8_t* image = base + i * in_bytes;
      std::vector<uint8_t> hwc;
      if (layout.channels_first) {
        hwc.resize(in_bytes);
        for (size_t p = 0; p < plane; ++p)
          for (int64_t c = 0; c < layout.channels; ++c) hwc[p * layout.channels + c] = image[c * plane + p];
        image = hwc.data();
      }
      finish_image(image, static_cast<int>(layout.width), static_cast<int>(layout.height),
                   static_cast<int>(layout.channels), config, out + static_cast<size_t>(i - begin) * out_bytes);
    });
  };
  return source;
}

}  // namespace ganpp
