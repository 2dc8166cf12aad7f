// Datasets in the files people have: a .zip of images (a zipped folder, or stylegan2-ada's format with
// dataset.json) and .npy/.npz uint8 arrays hold exactly the images (and labels) of the same images in a folder,
// whether decoded in memory, prepared or cached; and bad archives and arrays are clear errors.
#include <gtest/gtest.h>
#include <stb_image.h>
#include <zip.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "data_helpers.hpp"
#include "ganpp/data.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/prepared.hpp"
#include "helpers.hpp"

namespace fs = std::filesystem;
using namespace ganpp;
using namespace ganpp::test;

namespace {

// A zip archive written with libzip: (name, bytes) entries, deflated or stored.
void write_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& entries, bool deflate) {
  int error = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  ASSERT_NE(z, nullptr) << error;
  for (const auto& [name, bytes] : entries) {
    zip_source_t* src = zip_source_buffer(z, bytes.data(), bytes.size(), 0);
    const zip_int64_t index = zip_file_add(z, name.c_str(), src, ZIP_FL_ENC_UTF_8);
    ASSERT_GE(index, 0) << zip_strerror(z);
    zip_set_file_compression(z, static_cast<zip_uint64_t>(index), deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
  }
  ASSERT_EQ(zip_close(z), 0);
}

// The files of an image folder as zip entries named "<prefix><path relative to the folder>".
std::vector<std::pair<std::string, std::string>> folder_entries(const std::string& dir, const std::string& prefix) {
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file())
      entries.emplace_back(prefix + fs::relative(e.path(), dir).generic_string(), slurp(e.path().string()));
  return entries;
}

// A .npy file's bytes (format 1.0): `descr` such as "|u1" or "<i8", a shape, the raw data.
std::string npy(const std::string& descr, const std::vector<int64_t>& shape, const void* data, size_t bytes) {
  std::string dims;  // "3," for one dimension, "3, 4" for two, as numpy writes them
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dims += ",";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>(header.size() >> 8);
  return out + header + std::string(static_cast<const char*>(data), bytes);
}

std::string npy_of(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  const std::string descr = c.scalar_type() == torch::kUInt8 ? "|u1" : "<i8";
  return npy(descr, c.sizes().vec(), c.data_ptr(), static_cast<size_t>(c.numel() * c.element_size()));
}

}  // namespace

TEST(DataArchiveTest, AZipOfAFolderHoldsTheFolderImagesDecodedPreparedOrCached) {
  const TempDir root("archive-zip");
  write_image_folder(root.path + "/pets", {"cat", "dog", "fox"}, 4, 20, 3);
  const DataConfig folder = uncached_data(root.path + "/pets", 16, 3);
  const Dataset expected = load_dataset(folder);
  auto entries = folder_entries(root.path + "/pets", "");
  entries.emplace_back("__MACOSX/cat/._img_000.png", "resource fork");  // macOS's extras are not images
  entries.emplace_back(".hidden.png", "not an image");
  write_zip(root.path + "/flat.zip", entries, /*deflate=*/false);
  write_zip(root.path + "/nested.zip", folder_entries(root.path, ""), /*deflate=*/true);  // "pets/cat/..."
  for (const std::string name : {"flat.zip", "nested.zip"}) {
    SCOPED_TRACE(name);
    DataConfig zip = uncached_data(root.path + "/" + name, 16, 3);
    const Dataset loaded = load_dataset(zip);
    expect_same_images(expected, loaded);
    EXPECT_EQ(loaded.classes, expected.classes);
    EXPECT_EQ(data_fingerprint(zip), data_fingerprint(folder)) << "a folder and a zip of it are the same data";
    EXPECT_EQ(loaded.fingerprint, data_fingerprint(folder));
    zip.cache = root.path + "/cache";  // prepared into the cache, then mapped
    expect_same_images(expected, load_dataset(zip));
    expect_same_images(expected, load_dataset(zip));
    zip.limit = 5;
    DataConfig limited = folder;
    limited.limit = 5;
    expect_same_images(load_dataset(limited), load_dataset(zip));
  }
  // Two decoding threads, each with its own libzip handle, write the bytes of one.
  DataConfig zip = uncached_data(root.path + "/nested.zip", 16, 3);
  prepare_dataset(zip, root.path + "/one.ganppdata", PrepareOptions{1, "", true});
  prepare_dataset(zip, root.path + "/two.ganppdata", PrepareOptions{2, "", true});
  EXPECT_EQ(slurp(root.path + "/one.ganppdata"), slurp(root.path + "/two.ganppdata"));
  zip.path = root.path + "/two.ganppdata";
  expect_same_images(expected, load_dataset(zip));
  EXPECT_EQ(read_prepared_header(zip.path).source_kind, "zip");
}

TEST(DataArchiveTest, AStyleganZipTakesItsLabelsFromDatasetJson) {
  const TempDir root("archive-stylegan");
  write_image_folder(root.path + "/flat", {}, 6, 16, 3);
  const Dataset flat = load_dataset(uncached_data(root.path + "/flat", 16, 3));
  // stylegan2-ada's dataset_tool layout: images in numbered folders, labels by name, listed in any order.
  auto entries = folder_entries(root.path + "/flat", "00000/");
  const std::vector<int64_t> labels = {2, 0, 1, 2, 0, 4};
  std::string json = "{\"labels\": [";
  for (int i = 5; i >= 0; --i)
    json += "[\"00000/img_00" + std::to_string(i) + ".png\", " + std::to_string(labels[i]) + "]" + (i ? ", " : "");
  entries.emplace_back("dataset.json", json + "]}");
  write_zip(root.path + "/labelled.zip", entries, /*deflate=*/true);
  const Dataset loaded = load_dataset(uncached_data(root.path + "/labelled.zip", 16, 3));
  EXPECT_TRUE(torch::equal(loaded.images, flat.images));
  ASSERT_TRUE(loaded.labels.defined());
  EXPECT_TRUE(torch::equal(loaded.labels, torch::tensor(labels, torch::kInt64)));
  EXPECT_EQ(loaded.classes, (std::vector<std::string>{"0", "1", "2", "3", "4"}));

  entries.back().second = "{\"labels\": null}";
  write_zip(root.path + "/unlabelled.zip", entries, true);
  const Dataset unlabelled = load_dataset(uncached_data(root.path + "/unlabelled.zip", 16, 3));
  EXPECT_TRUE(torch::equal(unlabelled.images, flat.images));
  EXPECT_FALSE(unlabelled.labels.defined());
  EXPECT_TRUE(unlabelled.classes.empty());

  entries.back().second = "{\"labels\": [[\"00000/img_000.png\", 1]]}";
  write_zip(root.path + "/missing.zip", entries, true);
  const std::string error = error_of<RuntimeError>([&] {
    load_dataset(uncached_data(root.path + "/missing.zip", 16, 3));
  });
  EXPECT_TRUE(contains(error, "dataset.json gives no label for '00000/img_001.png'")) << error;
}

TEST(DataArchiveTest, NpyAndNpzArraysHoldTheImagesOfTheFolder) {
  const TempDir root("archive-npy");
  write_image_folder(root.path + "/pets", {"cat", "dog"}, 3, 20, 3);
  // The folder's pixels as stored (20x20 RGB), in both layouts; loading them at 16x16 resizes and converts
  // them as the folder loader does.
  const Dataset raw = load_dataset(uncached_data(root.path + "/pets", 20, 3));
  const torch::Tensor nchw = raw.images, nhwc = raw.images.permute({0, 2, 3, 1});
  std::ofstream(root.path + "/nhwc.npy", std::ios::binary) << npy_of(nhwc);
  std::ofstream(root.path + "/nchw.npy", std::ios::binary) << npy_of(nchw);
  write_zip(root.path + "/both.npz", {{"images.npy", npy_of(nhwc)}, {"labels.npy", npy_of(raw.labels)}}, true);
  for (const int64_t channels : {3, 1}) {
    const Dataset expected = load_dataset(uncached_data(root.path + "/pets", 16, channels));
    for (const std::string name : {"nhwc.npy", "nchw.npy", "both.npz"}) {
      SCOPED_TRACE(name + " " + std::to_string(channels));
      const Dataset loaded = load_dataset(uncached_data(root.path + "/" + name, 16, channels));
      EXPECT_TRUE(torch::equal(loaded.images, expected.images));
      EXPECT_EQ(loaded.labels.defined(), name == "both.npz");
      if (loaded.labels.defined()) {
        EXPECT_TRUE(torch::equal(loaded.labels, expected.labels));
        EXPECT_EQ(loaded.classes, (std::vector<std::string>{"0", "1"}));
      }
    }
  }
  // At its own size and layout an array is copied as it is; through the cache it is the same.
  DataConfig cached = uncached_data(root.path + "/nchw.npy", 20, 3);
  cached.cache = root.path + "/cache";
  EXPECT_TRUE(torch::equal(load_dataset(cached).images, nchw));

  // RGBA pixels are composited onto data.background as the folder loader does.
  write_image_folder(root.path + "/rgba", {}, 3, 16, 4);
  std::string rgba;
  for (const auto& f : list_image_files(root.path + "/rgba")) {
    int w = 0, h = 0, c = 0;
    unsigned char* p = stbi_load(f.c_str(), &w, &h, &c, 4);
    rgba.append(reinterpret_cast<const char*>(p), static_cast<size_t>(w) * h * 4);
    stbi_image_free(p);
  }
  std::ofstream(root.path + "/rgba.npy", std::ios::binary) << npy("|u1", {3, 16, 16, 4}, rgba.data(), rgba.size());
  for (const std::string background : {"white", "#204060", "none"})
    for (const int64_t channels : {3, 1}) {
      SCOPED_TRACE(background + " " + std::to_string(channels));
      DataConfig folder = uncached_data(root.path + "/rgba", 16, channels), array = folder;
      folder.background = array.background = background;
      array.path = root.path + "/rgba.npy";
      EXPECT_TRUE(torch::equal(load_dataset(array).images, load_dataset(folder).images));
    }

  // `ganpp data prepare` names its output after the array.
  const CommandResult r = run_ganpp({"data", "prepare", "--data", root.path + "/both.npz", "--image-size", "16",
                                     "--channels", "3", "--out", root.path + "/both.ganppdata"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "6 images 16x16x3, 2 classes")) << r.out;
}

TEST(DataArchiveTest, BadArraysAndArchivesAreClearErrors) {
  const TempDir root("archive-bad");
  auto error = [&](const std::string& name, const std::string& layout = "auto") {
    DataConfig c = uncached_data(root.path + "/" + name, 8, 3);
    c.layout = layout;
    return error_of<RuntimeError>([&] { load_dataset(c); });
  };
  const std::vector<float> floats(2 * 8 * 8 * 3, 0.5f);
  std::ofstream(root.path + "/float.npy", std::ios::binary)
      << npy("<f4", {2, 8, 8, 3}, floats.data(), floats.size() * 4);
  EXPECT_TRUE(contains(error("float.npy"), "holds <f4 values; ganpp reads uint8 images")) << error("float.npy");

  const std::string pixels(2 * 3 * 8 * 3, '\x40');
  std::ofstream(root.path + "/ambiguous.npy", std::ios::binary)
      << npy("|u1", {2, 3, 8, 3}, pixels.data(), pixels.size());
  EXPECT_TRUE(contains(error("ambiguous.npy"), "has shape [2, 3, 8, 3]: its layout is ambiguous; set data.layout"))
      << error("ambiguous.npy");
  for (const std::string layout : {"nchw", "nhwc"}) {  // 8x3 or 3x8 images, cropped to 3x3 and resized
    DataConfig c = uncached_data(root.path + "/ambiguous.npy", 8, 3);
    c.layout = layout;
    EXPECT_EQ(load_dataset(c).size(), 2);
  }

  std::ofstream(root.path + "/short.npy", std::ios::binary) << npy("|u1", {4, 8, 8, 3}, pixels.data(), pixels.size());
  EXPECT_TRUE(contains(error("short.npy"), "is truncated: its shape [4, 8, 8, 3] of |u1 needs 768 bytes"))
      << error("short.npy");

  std::ofstream(root.path + "/forged.npy", std::ios::binary)
      << npy("|u1", {999999999999, 999999999999, 999999999999, 3}, pixels.data(), pixels.size());
  EXPECT_TRUE(contains(error("forged.npy"), "is truncated: its shape [999999999999, 999999999999, 999999999999, 3]"))
      << error("forged.npy");
  const std::string line(70000, '\x10');
  std::ofstream(root.path + "/line.npy", std::ios::binary) << npy("|u1", {1, 70000, 1}, line.data(), line.size());
  EXPECT_TRUE(contains(error("line.npy"), "images of 70000x1 pixels, more than 65535 per side")) << error("line.npy");

  write_zip(root.path + "/positional.npz", {{"arr_0.npy", npy("|u1", {2, 3, 8, 3}, pixels.data(), pixels.size())}},
            true);
  EXPECT_TRUE(contains(error("positional.npz"), "holds no array named 'images' (it holds: arr_0)"))
      << error("positional.npz");
  const std::vector<int64_t> labels = {0, -1};
  write_zip(root.path + "/negative.npz",
            {{"images.npy", npy("|u1", {2, 8, 8, 3}, floats.data(), 2 * 8 * 8 * 3)},
             {"labels.npy", npy("<i8", {2}, labels.data(), 16)}},
            true);
  EXPECT_TRUE(contains(error("negative.npz"), "gives image 1 a label out of range")) << error("negative.npz");

  std::ofstream(root.path + "/text.zip") << "not a zip";
  EXPECT_TRUE(contains(error("text.zip"), "cannot open zip archive")) << error("text.zip");
  write_image_folder(root.path + "/imgs", {}, 2, 8, 3);
  auto entries = folder_entries(root.path + "/imgs", "");
  entries.emplace_back("cats/a.png", entries.front().second);
  write_zip(root.path + "/mixed.zip", entries, false);
  EXPECT_TRUE(contains(error("mixed.zip"), "mixes images (img_000.png) with class subfolders (cats)"))
      << error("mixed.zip");
  // A damaged entry (stored: its bytes are in the file as they are) fails its CRC-32, named.
  write_zip(root.path + "/damaged.zip", folder_entries(root.path + "/imgs", ""), false);
  std::string bytes = slurp(root.path + "/damaged.zip");
  const size_t at = bytes.find("IDAT");  // inside the first image's data
  ASSERT_NE(at, std::string::npos);
  bytes[at + 8] = static_cast<char>(bytes[at + 8] ^ 0x5A);
  std::ofstream(root.path + "/damaged.zip", std::ios::binary) << bytes;
  EXPECT_TRUE(contains(error("damaged.zip"), "entry 'img_000.png'")) << error("damaged.zip");
  std::ofstream(root.path + "/data.csv") << "a,b";
  EXPECT_TRUE(contains(error("data.csv"), "is neither a folder nor a dataset file ganpp reads")) << error("data.csv");
}
