// A .zip of images as a source: the stylegan2-ada dataset format (labels from its dataset.json) or a zipped image
// folder (class subfolders, as for folders). Each decoding thread reads through its own libzip handle.
#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>

#include "source.hpp"
#include "zip_archive.hpp"

#include "ganpp/errors.hpp"
#include "ganpp/json.hpp"

namespace fs = std::filesystem;

namespace ganpp {
namespace {

// Whether an entry is hidden: a part of its path starts with '.', or it is macOS's "__MACOSX" resource folder.
bool hidden(const std::string& name) {
  size_t start = 0;
  while (start < name.size()) {
    const size_t slash = std::min(name.find('/', start), name.size());
    const std::string part = name.substr(start, slash - start);
    if ((!part.empty() && part[0] == '.') || part == "__MACOSX") return true;
    start = slash + 1;
  }
  return false;
}

size_t depth(const std::string& name) { return static_cast<size_t>(std::count(name.begin(), name.end(), '/')); }

// stylegan2-ada's dataset.json: {"labels": [["00000/img00000000.png", 6], ...]} or {"labels": null}. Returns
// false when there is none; throws for one that cannot be read.
bool read_label_file(const ZipArchive& zip, std::map<std::string, int64_t>& labels, bool& labelled) {
  const auto& entries = zip.entries();
  const auto it = std::find_if(entries.begin(), entries.end(),
                               [](const ZipArchive::Entry& e) { return e.name == "dataset.json"; });
  if (it == entries.end()) return false;
  const std::string where = "'" + abbreviate(zip.path()) + "' entry 'dataset.json'";
  try {
    const Json j = Json::parse(zip.read(*it));
    const Json& list = j.at("labels");
    labelled = !list.is_null();
    if (labelled)
      for (const auto& pair : list) {
        const int64_t label = pair.at(1).get<int64_t>();
        if (label < 0) throw RuntimeError("zip archive " + where + " gives a negative label");
        labels[pair.at(0).get<std::string>()] = label;
      }
  } catch (const nlohmann::json::exception& e) {
    throw RuntimeError("zip archive " + where + " cannot be read: " + e.what() +
                       " (expected {\"labels\": [[\"name.png\", class], ...]} or {\"labels\": null})");
  }
  return true;
}

}  // namespace

ImageSource open_zip(const DataConfig& config) {
  const auto zip = std::make_shared<ZipArchive>(config.path);
  std::vector<ZipArchive::Entry> images;
  const std::string where = "zip archive '" + abbreviate(config.path) + "'";
  for (const auto& e : zip->entries()) {
    if (!is_image_name(e.name) || hidden(e.name)) continue;
    // Checked before anything is inflated: a forged size would otherwise be allocated.
    if (e.size > uint64_t(INT32_MAX))
      throw RuntimeError(where + " entry '" + abbreviate(e.name) + "' declares " + std::to_string(e.size) +
                         " bytes, more than an image of 2 GB; remove or replace it");
    images.push_back(e);
  }
  if (images.empty()) throw RuntimeError("no images found in " + where + " (looked for .png, .jpg, .jpeg, .bmp)");

  ImageSource source;
  source.kind = SourceKind::zip;
  source.description = "zip " + config.path;
  std::map<std::string, int64_t> label_of;
  bool labelled = false;
  // Names relative to the dataset's root: a zip of one folder is read as that folder.
  std::string root;
  if (read_label_file(*zip, label_of, labelled)) {
    std::sort(images.begin(), images.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  } else {
    const std::string first = images.front().name;
    const size_t slash = first.find('/');
    if (slash != std::string::npos && std::all_of(images.begin(), images.end(), [&](const auto& e) {
          return e.name.compare(0, slash + 1, first, 0, slash + 1) == 0;
        }))
      root = first.substr(0, slash + 1);
    // As in a folder: images at the top (unlabelled) or one subfolder per class; deeper ones are not read.
    std::vector<ZipArchive::Entry> kept;
    for (auto& e : images) {
      e.name = e.name.substr(root.size());
      if (depth(e.name) <= 1) kept.push_back(e);
    }
    images = std::move(kept);
    // Subfolders in sorted order, each one's files in sorted order (a folder's order).
    auto key = [](const std::string& n) {
      const size_t s = n.find('/');
      return s == std::string::npos ? std::make_pair(std::string(), n)
                                    : std::make_pair(n.substr(0, s), n.substr(s + 1));
    };
    std::sort(images.begin(), images.end(), [&](const auto& a, const auto& b) { return key(a.name) < key(b.name); });
    const auto loose = std::find_if(images.begin(), images.end(), [](const auto& e) { return depth(e.name) == 0; });
    const auto nested = std::find_if(images.begin(), images.end(), [](const auto& e) { return depth(e.name) == 1; });
    if (loose != images.end() && nested != images.end())
      throw RuntimeError(where + " mixes images (" + loose->name + ") with class subfolders (" +
                         nested->name.substr(0, nested->name.find('/')) +
                         "); put every image in a class subfolder, or none (or add stylegan2-ada's dataset.json)");
    labelled = nested != images.end();
    for (const auto& e : images) {
      if (!labelled) break;
      const std::string cls = e.name.substr(0, e.name.find('/'));
      if (source.classes.empty() || source.classes.back() != cls) source.classes.push_back(cls);
      label_of[e.name] = static_cast<int64_t>(source.classes.size()) - 1;
    }
    if (images.empty()) throw RuntimeError("no images found in " + where + " (directly or one subfolder per class)");
  }

  std::vector<std::pair<std::string, uint64_t>> names_and_sizes;
  for (const auto& e : images) names_and_sizes.emplace_back(e.name, e.size);
  source.fingerprint = names_and_sizes_fingerprint(names_and_sizes);
  source.state = file_state_line(config.path, fs::path(config.path).filename().string());
  if (config.limit > 0 && static_cast<int64_t>(images.size()) > config.limit)
    images.resize(static_cast<size_t>(config.limit));
  source.count = static_cast<int64_t>(images.size());
  if (labelled) {
    int64_t classes = 0;
    for (const auto& e : images) {
      const auto it = label_of.find(e.name);
      if (it == label_of.end())
        throw RuntimeError(where + ": dataset.json gives no label for '" + abbreviate(e.name) +
                           "'; label every image, or write \"labels\": null");
      source.labels.push_back(it->second);
      classes = std::max(classes, it->second + 1);
    }
    if (source.classes.empty())  // dataset.json's labels are class indices
      for (int64_t c = 0; c < classes; ++c) source.classes.push_back(std::to_string(c));
  }

  // One handle per decoding thread (the first is the one opened here), kept for the source's life.
  struct Readers {
    std::mutex mutex;
    std::vector<std::shared_ptr<ZipArchive>> handles;
  };
  auto readers = std::make_shared<Readers>();
  readers->handles.push_back(zip);
  auto entries = std::make_shared<std::vector<ZipArchive::Entry>>(std::move(images));
  const std::string prefix = root;
  source.decode = [readers, entries, config, prefix](int64_t begin, int64_t end, uint8_t* out, int threads) {
    const int workers = worker_count(threads, end - begin);
    std::vector<std::shared_ptr<ZipArchive>> handles;
    {
      const std::lock_guard<std::mutex> lock(readers->mutex);
      while (static_cast<int>(readers->handles.size()) < workers)
        readers->handles.push_back(std::make_shared<ZipArchive>(config.path));
      handles = readers->handles;
    }
    const auto image_bytes = static_cast<size_t>(config.channels * config.image_size * config.image_size);
    parallel_for(begin, end, workers, [&](int64_t i, int worker) {
      ZipArchive::Entry entry = (*entries)[static_cast<size_t>(i)];
      const std::string name = config.path + ":" + entry.name;
      entry.name = prefix + entry.name;  // its name in the archive
      decode_encoded_image(handles[static_cast<size_t>(worker)]->read(entry), name, config,
                           out + static_cast<size_t>(i - begin) * image_bytes);
    });
  };
  return source;
}

}  // namespace ganpp
