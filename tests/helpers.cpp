// Test helpers (see helpers.hpp).
#include "helpers.hpp"

#include <fcntl.h>
#include <stb_image.h>
#include <stb_image_write.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace ganpp::test {

std::string temp_dir(const std::string& tag) {
  static std::atomic<int> counter{0};
  const fs::path dir = fs::temp_directory_path() /
                       ("ganpp-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" + tag);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

namespace {

std::string be32(uint32_t v) {
  return std::string{char(v >> 24), char((v >> 16) & 0xFF), char((v >> 8) & 0xFF), char(v & 0xFF)};
}

void write_maybe_gz(const std::string& path, const std::string& bytes, bool gzip) {
  if (!gzip) return write_bytes(path, bytes);
  gzFile f = gzopen((path + ".gz").c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

// Whether a ganpp command line chooses its device (else the child is started without a GPU, see kNoGpu).
bool names_a_device(const std::vector<std::string>& args) {
  return std::find(args.begin(), args.end(), "--device") != args.end();
}

}  // namespace

void write_idx_dataset(const std::string& dir, int64_t n, int64_t size, int64_t classes, bool gzip, uint64_t seed) {
  fs::create_directories(dir);
  for (const std::string prefix : {"train", "t10k"}) {
    std::string images = std::string("\0\0\x08\x03", 4) + be32(uint32_t(n)) + be32(uint32_t(size)) +
                         be32(uint32_t(size));
    std::string labels = std::string("\0\0\x08\x01", 4) + be32(uint32_t(n));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t label = (i + static_cast<int64_t>(seed)) % classes;
      labels += char(label);
      // A bright square whose position depends on the label, on a faint gradient.
      for (int64_t y = 0; y < size; ++y)
        for (int64_t x = 0; x < size; ++x) {
          const bool in_square = std::abs(y - size / 2) < size / 4 && std::abs(x - (label * size) / classes) < size / 5;
          images += char(in_square ? 230 : static_cast<int>((x + y + i) % 40));
        }
    }
    write_maybe_gz((fs::path(dir) / (prefix + "-images-idx3-ubyte")).string(), images, gzip);
    write_maybe_gz((fs::path(dir) / (prefix + "-labels-idx1-ubyte")).string(), labels, gzip);
  }
}

void write_image_folder(const std::string& dir, const std::vector<std::string>& class_names, int per_class, int size,
                        int channels) {
  const std::vector<std::string> folders = class_names.empty() ? std::vector<std::string>{""} : class_names;
  for (size_t c = 0; c < folders.size(); ++c) {
    const fs::path folder = fs::path(dir) / folders[c];
    fs::create_directories(folder);
    for (int i = 0; i < per_class; ++i) {
      std::vector<unsigned char> pixels(static_cast<size_t>(size) * size * channels);
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x)
          for (int ch = 0; ch < channels; ++ch)
            pixels[(static_cast<size_t>(y) * size + x) * channels + ch] = static_cast<unsigned char>(
                (x * 7 + y * 3 + ch * 50 + static_cast<int>(c) * 60 + i * 11) % 256);
      char name[32];
      std::snprintf(name, sizeof(name), "img_%03d.png", i);
      stbi_write_png((folder / name).c_str(), size, size, channels, pixels.data(), size * channels);
    }
  }
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string source_path(const std::string& relative) { return (fs::path(GANPP_SOURCE_DIR) / relative).string(); }

CommandResult run_shell(const std::string& prefix, const std::vector<std::string>& argv) {
  const std::string dir = temp_dir("cmd");
  const std::string out = dir + "/out", err = dir + "/err";
  std::string cmd = prefix;
  for (const auto& a : argv) {
    std::string quoted = "'";
    for (char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    cmd += " " + quoted + "'";
  }
  cmd += " >'" + out + "' 2>'" + err + "'";
  const int status = std::system(cmd.c_str());
  CommandResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  fs::remove_all(dir);
  return r;
}

CommandResult run_ganpp(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {GANPP_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_shell(names_a_device(args) ? "" : kNoGpu, argv);
}

ganpp::Config tiny_config(const std::string& arch, const std::string& loss) {
  ganpp::Config c;
  c.data.image_size = 16;
  c.model.arch = arch;
  c.model.z_dim = 8;
  c.model.g.ngf = 4;
  c.model.d.ndf = 4;
  c.model.g.hidden = {16};
  c.model.d.hidden = {16};
  c.loss.kind = loss;
  c.train.batch_size = 4;
  c.train.sample_count = 4;
  c.train.sample_nrow = 2;
  c.train.ema = 0;  // tests of the step see the generator itself unless they ask for the average
  return c;
}

std::vector<std::string> with_tiny_model(std::vector<std::string> args, const std::string& data, int batch) {
  std::vector<std::string> tiny = {"--threads", "1", "--set", "data.path=" + data};
  for (const std::string s : {"data.image_size=16", "model.z_dim=8", "model.g.ngf=4", "model.d.ndf=4",
                              "train.sample_count=4", "train.sample_nrow=2"})
    tiny.insert(tiny.end(), {"--set", s});
  tiny.insert(tiny.end(), {"--set", "train.batch_size=" + std::to_string(batch)});
  args.insert(args.begin() + 1, tiny.begin(), tiny.end());
  return args;
}

void expect_cli_error(const CommandResult& r, int code, const std::vector<std::string>& parts) {
  EXPECT_EQ(r.code, code) << r.err;
  for (const auto& p : parts) EXPECT_TRUE(contains(r.err, p)) << "stderr lacks '" << p << "':\n" << r.err;
  EXPECT_FALSE(contains(r.err, "Exception raised from")) << "backtrace leaked:\n" << r.err;
}

BackgroundGanpp start_ganpp(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  const std::string dir = temp_dir("bg");
  BackgroundGanpp p;
  p.out_path = dir + "/out";
  p.err_path = dir + "/err";
  std::vector<std::string> argv_strings = {GANPP_BINARY};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int out = ::open(p.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open(p.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    if (!names_a_device(args)) ::setenv("CUDA_VISIBLE_DEVICES", "", 1);
    for (const auto& e : env) {
      const auto eq = e.find('=');
      ::setenv(e.substr(0, eq).c_str(), e.substr(eq + 1).c_str(), 1);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  p.pid = pid;
  return p;
}

int BackgroundGanpp::wait() {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  killed = WIFSIGNALED(status);
  return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

std::string BackgroundGanpp::err() const { return slurp(err_path); }

torch::Tensor read_png(const std::string& path) {
  int w = 0, h = 0, c = 0;
  stbi_uc* px = stbi_load(path.c_str(), &w, &h, &c, 0);
  if (!px) {
    ADD_FAILURE() << "cannot decode " << path << ": " << stbi_failure_reason();
    return {};
  }
  const auto image = torch::from_blob(px, {h, w, c}, torch::kUInt8).permute({2, 0, 1}).clone();
  stbi_image_free(px);
  return image;
}

}  // namespace ganpp::test
