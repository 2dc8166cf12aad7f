// The run directory: its layout, config.json and log.jsonl (one reader for every consumer of the log).
#include "ganpp/run_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>

#include <spdlog/spdlog.h>

#include "ganpp/errors.hpp"
#include "ganpp/fault.hpp"
#include "ganpp/files.hpp"

namespace fs = std::filesystem;

namespace ganpp {
namespace {

std::string padded(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%06lld", static_cast<long long>(step));
  return buf;
}

void make_dirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw RuntimeError("cannot create folder '" + dir.string() + "': " + ec.message());
}

// One log record, or nothing for a line that is not one: a run killed mid-append can leave a partial
// last line. Records are objects with an integer "step".
std::optional<Json> parse_log_line(const std::string& line) {
  Json record = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!record.is_object() || !record.contains("step") || !record["step"].is_number_integer()) return std::nullopt;
  return record;
}

}  // namespace

bool holds_run(const std::string& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(fs::path(dir) / "checkpoints", ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".ckpt") return true;
  return false;
}

bool unfinished_run(const std::string& dir) { return fs::exists(fs::path(dir) / "config.json") && !holds_run(dir); }

void clear_unfinished_run(const std::string& dir) {
  std::error_code ec;
  for (const char* name : {"config.json", "log.jsonl", "report.html", "samples", "checkpoints"}) {
    fs::remove_all(fs::path(dir) / name, ec);
    if (ec)
      throw RuntimeError("cannot clear '" + (fs::path(dir) / name).string() +
                         "' of the unfinished run: " + ec.message());
  }
  remove_temporaries(dir);
}

RunLock::RunLock(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / ".lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw RuntimeError("cannot open the lock file '" + path + "': " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) {
      char holder[256] = {0};
      const ssize_t n = ::pread(fd_, holder, sizeof(holder) - 1, 0);
      std::string who = n > 0 ? std::string(holder, static_cast<size_t>(n)) : "another process";
      while (!who.empty() && std::isspace(static_cast<unsigned char>(who.back()))) who.pop_back();
      ::close(fd_);
      fd_ = -1;
      throw UsageError("run directory '" + run_dir + "' is in use by " + who +
                       " (a training run holds its lock); wait for it to end or stop it, or use another --out");
    }
    spdlog::warn("cannot lock '{}' ({}): this filesystem has no locks; make sure no other process trains into {}", path,
                 std::strerror(err), run_dir);
    return;
  }
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  const std::string holder = std::to_string(::getpid()) + "@" + host + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, holder.data(), holder.size(), 0) < 0)
    spdlog::warn("cannot record the lock holder in '{}': {}", path, std::strerror(errno));
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the lock
}

Json read_run_info(const std::string& run_dir) {
  const std::string path = config_path(run_dir);
  if (!fs::exists(path)) return Json::object();
  const Json json = Json::parse(read_file(path), nullptr, /*allow_exceptions=*/false);
  return json.is_object() && json.contains("run") && json["run"].is_object() ? json["run"] : Json::object();
}

void check_out_dir(const std::string& out) {
  if (out.empty()) return;
  if (fs::exists(out) && !fs::is_directory(out))
    throw UsageError("--out '" + out + "' exists and is not a folder; choose another --out");
  if (holds_run(out))
    throw UsageError("--out '" + out +
                     "' already holds a run (it has checkpoints); continue it with 'ganpp train "
                     "--resume " +
                     out + "' or choose another --out");
}

std::string create_run_dir(const std::string& out, const std::string& name, const std::string& runs_root) {
  fs::path dir;
  if (!out.empty()) {
    check_out_dir(out);
    dir = out;
  } else {
    make_dirs(runs_root);
    // The next number after the highest in use; create_directory fails if another run took it first.
    int next = 1;
    for (const auto& e : fs::directory_iterator(runs_root)) {
      const std::string n = e.path().filename().string();
      if (n.size() >= 5 && std::all_of(n.begin(), n.begin() + 5, ::isdigit))
        next = std::max(next, std::stoi(n.substr(0, 5)) + 1);
    }
    for (;; ++next) {
      char prefix[16];
      std::snprintf(prefix, sizeof(prefix), "%05d", next);
      dir = fs::path(runs_root) / (std::string(prefix) + "-" + name);
      std::error_code ec;
      if (fs::create_directory(dir, ec)) break;
      if (ec) throw RuntimeError("cannot create run folder '" + dir.string() + "': " + ec.message());
    }
  }
  make_run_subdirs(dir.string());
  return dir.string();
}

void make_run_subdirs(const std::string& run_dir) {
  make_dirs(fs::path(run_dir) / "samples");
  make_dirs(fs::path(run_dir) / "checkpoints");
}

std::string run_dir_of_checkpoint(const std::string& checkpoint) {
  const fs::path parent = fs::absolute(checkpoint).parent_path();
  if (parent.filename() != "checkpoints")
    throw RuntimeError("checkpoint '" + checkpoint +
                       "' is not inside a run directory's checkpoints/ folder; --resume needs the run it belongs to");
  return parent.parent_path().string();
}

std::string sample_path(const std::string& run_dir, int64_t step) {
  return (fs::path(run_dir) / "samples" / ("step_" + padded(step) + ".png")).string();
}
std::string checkpoint_path(const std::string& run_dir, int64_t step) {
  return (fs::path(run_dir) / "checkpoints" / ("step_" + padded(step) + ".ckpt")).string();
}
std::string latest_checkpoint_path(const std::string& run_dir) {
  return (fs::path(run_dir) / "checkpoints" / "latest.ckpt").string();
}
std::string best_checkpoint_path(const std::string& run_dir) {
  return (fs::path(run_dir) / "checkpoints" / "best.ckpt").string();
}
std::string log_path(const std::string& run_dir) { return (fs::path(run_dir) / "log.jsonl").string(); }
std::string config_path(const std::string& run_dir) { return (fs::path(run_dir) / "config.json").string(); }

void write_run_config(const std::string& run_dir, const Config& config, const Json& run_info) {
  Json json = config_to_json(config);
  json["run"] = run_info;
  write_file_atomic(config_path(run_dir), json.dump(2) + "\n");
}

std::vector<Json> read_log(const std::string& run_dir) {
  const std::string path = log_path(run_dir);
  std::vector<Json> records;
  if (!fs::exists(path)) return records;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);)
    if (auto record = parse_log_line(line)) records.push_back(std::move(*record));
  return records;
}

void append_log(const std::string& run_dir, const Json& record) {
  const std::string path = log_path(run_dir);
  std::ofstream out(path, std::ios::app | std::ios::binary);
  const std::string line = record.dump() + "\n";
  // Test-only: a kill halfway through the line (fault.hpp).
  out.write(line.data(), static_cast<std::streamsize>(line.size() / 2)).flush();
  fault_point("append:log.jsonl");
  out.write(line.data() + line.size() / 2, static_cast<std::streamsize>(line.size() - line.size() / 2));
  out.flush();
  if (!out) throw RuntimeError("cannot append to '" + path + "'");
}

void truncate_log(const std::string& run_dir, int64_t step) {
  const std::string path = log_path(run_dir);
  if (!fs::exists(path)) return;
  std::string kept;
  for (const Json& record : read_log(run_dir))
    if (record["step"].get<int64_t>() <= step) kept += record.dump() + "\n";
  write_file_atomic(path, kept);
}

void remove_temporaries(const std::string& run_dir) {
  for (const char* sub : {"", "samples", "checkpoints"}) {
    std::error_code ec;
    for (fs::directory_iterator it(fs::path(run_dir) / sub, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().extension() == kTempSuffix) fs::remove(it->path(), ec);
  }
}

std::vector<std::string> step_checkpoints(const std::string& run_dir) {
  std::vector<std::string> steps;
  static const std::regex kStepFile(R"(step_\d{6,}\.ckpt)");
  std::error_code ec;
  for (fs::directory_iterator it(fs::path(run_dir) / "checkpoints", ec), end; !ec && it != end; it.increment(ec))
    if (std::regex_match(it->path().filename().string(), kStepFile)) steps.push_back(it->path().string());
  std::sort(steps.begin(), steps.end());
  return steps;
}

void prune_checkpoints(const std::string& run_dir, int64_t keep) {
  const std::vector<std::string> steps = step_checkpoints(run_dir);
  for (size_t i = 0; i + static_cast<size_t>(keep) < steps.size(); ++i) fs::remove(steps[i]);
}

}  // namespace ganpp
