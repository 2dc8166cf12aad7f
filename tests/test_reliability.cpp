// A run that cannot lose or corrupt work, through the real binary: stop signals end with a checkpoint that
// resumes exactly, a run directory has one writer, damaged, foreign and other runs' checkpoints are refused
// with nothing written, changed data is refused unless allowed, and a run that never checkpointed is no dead end.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "ganpp/checkpoint.hpp"
#include "ganpp/classifier.hpp"
#include "ganpp/files.hpp"
#include "ganpp/run_dir.hpp"
#include "helpers.hpp"

namespace fs = std::filesystem;
using namespace ganpp::test;

namespace {

class ReliabilityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = temp_dir("reliability");
    data_ = root_ + "/data";
    write_idx_dataset(data_, 32, 16, 4, /*gzip=*/true);
    run_ = root_ + "/run";
    const auto r = run_ganpp(tiny({"train", "--out", run_, "--set", "train.steps=4", "--set",
                                   "train.checkpoint_every=2", "--set", "train.log_every=1"}));
    ASSERT_EQ(r.code, 0) << r.err;
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  // Tiny-model settings right after the subcommand, so that the test's own --set wins.
  static std::vector<std::string> tiny(std::vector<std::string> args, const std::string& data = "") {
    return with_tiny_model(args, data.empty() ? data_ : data);
  }

  // A copy of the shared run to damage.
  static std::string copy_of_run(const std::string& tag) {
    const std::string dir = root_ + "/" + tag;
    fs::remove_all(dir);
    fs::copy(run_, dir, fs::copy_options::recursive);
    return dir;
  }

  // Waits until the run in `dir` logged at least `records` records (false after 60 s).
  static bool wait_for_log(const std::string& dir, size_t records) {
    for (int i = 0; i < 600; ++i) {
      if (ganpp::read_log(dir).size() >= records) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  static void expect_error(const CommandResult& r, int code, const std::vector<std::string>& parts) {
    expect_cli_error(r, code, parts);
  }

  static std::string root_, data_, run_;
};
std::string ReliabilityTest::root_, ReliabilityTest::data_, ReliabilityTest::run_;

// The log's values without the timing ones.
std::vector<ganpp::Json> log_values(const std::string& run) {
  std::vector<ganpp::Json> records = ganpp::read_log(run);
  for (auto& r : records) {
    r.erase("images_per_s");
    r.erase("data_wait_ms");
  }
  return records;
}

// A long run stopped by `signal` after a few steps: exit 128 + N, the message names the signal and the
// checkpoint of the step it stopped at, and resuming to a few more steps equals a straight run.
void expect_signal_stops_exactly(int signal, const std::string& name, const std::string& root,
                                 const std::function<std::vector<std::string>(std::vector<std::string>)>& tiny,
                                 const std::function<bool(const std::string&, size_t)>& wait_for_log) {
  const std::string run = root + "/signal-" + name;
  auto p = start_ganpp(tiny({"train", "--out", run, "--set", "train.steps=100000", "--set", "train.log_every=1",
                             "--set", "train.sample_every=3", "--set", "train.checkpoint_every=100000"}));
  ASSERT_TRUE(wait_for_log(run, 3)) << p.err();
  ::kill(p.pid, signal);
  ASSERT_EQ(p.wait(), 128 + signal) << p.err();
  const int64_t step = ganpp::read_log(run).back()["step"].get<int64_t>();
  const std::string checkpoint = ganpp::checkpoint_path(run, step);
  const std::string console = slurp(p.out_path);
  EXPECT_TRUE(contains(console, "stopped by " + name + " at step " + std::to_string(step) + ": checkpoint " +
                                    checkpoint + "; continue with: ganpp train --resume " + run))
      << console;
  ASSERT_TRUE(fs::exists(checkpoint));
  EXPECT_EQ(ganpp::read_file(checkpoint), ganpp::read_file(ganpp::latest_checkpoint_path(run)));

  const std::string total = "train.steps=" + std::to_string(step + 4);
  const auto resumed = run_ganpp({"train", "--threads", "1", "--resume", run, "--set", total});
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  const std::string straight = root + "/straight-" + name;
  const auto r = run_ganpp(tiny({"train", "--out", straight, "--set", total, "--set", "train.log_every=1", "--set",
                                 "train.sample_every=3", "--set", "train.checkpoint_every=100000"}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(log_values(run), log_values(straight));
  const std::string grid = "samples/step_" + std::string(6 - std::to_string(step + 4).size(), '0') +
                           std::to_string(step + 4) + ".png";
  EXPECT_EQ(ganpp::read_file(run + "/" + grid), ganpp::read_file(straight + "/" + grid));
}

TEST_F(ReliabilityTest, SigtermAndSigintStopWithACheckpointThatResumesExactly) {
  const auto wait = [](const std::string& dir, size_t n) { return wait_for_log(dir, n); };
  const auto with_tiny = [](std::vector<std::string> args) { return tiny(std::move(args)); };
  expect_signal_stops_exactly(SIGTERM, "SIGTERM", root_, with_tiny, wait);
  expect_signal_stops_exactly(SIGINT, "SIGINT", root_, with_tiny, wait);
}

// A second SIGINT while the run stops (here: while it writes latest.ckpt after the stop's step file, held there by
// a stall) aborts at once: killed by SIGINT, no "stopped by" message. Nothing is damaged: the step file is intact,
// latest.ckpt was never half-written, and the run resumes from the step file.
TEST_F(ReliabilityTest, ASecondSigintAbortsAtOnceWithoutDamage) {
  const std::string run = root_ + "/double-sigint";
  ::setenv("GANPP_FAULT", "stall:write:latest.ckpt", 1);
  auto p = start_ganpp(tiny({"train", "--out", run, "--set", "train.steps=100000", "--set", "train.log_every=1",
                             "--set", "train.sample_every=3", "--set", "train.checkpoint_every=100000"}));
  ::unsetenv("GANPP_FAULT");
  ASSERT_TRUE(wait_for_log(run, 3)) << p.err();
  ::kill(p.pid, SIGINT);
  const std::string partial = ganpp::latest_checkpoint_path(run) + ganpp::kTempSuffix;
  for (int i = 0; i < 2000 && !fs::exists(partial); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(fs::exists(partial)) << "the stop's checkpoint is being written";
  ::kill(p.pid, SIGINT);
  EXPECT_EQ(p.wait(), 128 + SIGINT) << p.err();
  EXPECT_TRUE(p.killed) << "the second SIGINT ends the process by the signal itself";
  EXPECT_FALSE(contains(slurp(p.out_path), "stopped by SIGINT")) << slurp(p.out_path);
  EXPECT_FALSE(fs::exists(ganpp::latest_checkpoint_path(run)));
  std::vector<std::string> step_files;
  for (const auto& e : fs::directory_iterator(run + "/checkpoints")) {
    if (e.path().extension() != ".ckpt") continue;
    EXPECT_NO_THROW(ganpp::verify_checkpoint_file(e.path().string())) << e.path();
    step_files.push_back(e.path().filename().string());
  }
  ASSERT_EQ(step_files.size(), 1u);
  const int64_t step = std::stoll(step_files[0].substr(5, 6));  // step_NNNNNN.ckpt
  const auto resumed = run_ganpp({"train", "--threads", "1", "--resume", run, "--set",
                                  "train.steps=" + std::to_string(step + 2)});
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(ganpp::CheckpointReader(ganpp::latest_checkpoint_path(run), torch::kCPU).state().step, step + 2);
}

// Killed (SIGKILL) at named points, mid-checkpoint, between a checkpoint and latest.ckpt, mid-grid and
// mid-log, and at seeded random moments: every run resumes and ends byte-identical to a straight one.
TEST_F(ReliabilityTest, KillsAnywhereResumeToTheSameRun) {
  const std::vector<std::string> cadence = {"--set", "train.steps=6",        "--set", "train.log_every=1",
                                            "--set", "train.sample_every=3", "--set", "train.checkpoint_every=2"};
  const auto with_cadence = [&](std::vector<std::string> args) {
    args.insert(args.end(), cadence.begin(), cadence.end());
    return tiny(args);
  };
  const std::string straight = root_ + "/kill-straight";
  ASSERT_EQ(run_ganpp(with_cadence({"train", "--out", straight})).code, 0);
  const auto expect_same = [&](const std::string& run, const std::string& what) {
    EXPECT_EQ(log_values(run), log_values(straight)) << what;
    for (const char* grid : {"/samples/step_000003.png", "/samples/step_000006.png"})
      EXPECT_EQ(slurp(run + grid), slurp(straight + grid)) << what << " " << grid;
  };
  for (const std::string point : {"write:step_000004.ckpt", "between:checkpoint-latest@4", "write:step_000003.png",
                                  "append:log.jsonl@5", "write:latest.ckpt@2"}) {
    const std::string run = root_ + "/kill-" + point.substr(0, point.find(':'));
    fs::remove_all(run);
    ::setenv("GANPP_FAULT", point.c_str(), 1);
    const auto killed = run_ganpp(with_cadence({"train", "--out", run}));
    ::unsetenv("GANPP_FAULT");
    ASSERT_TRUE(killed.code == -1 || killed.code == 128 + SIGKILL) << point << " was not reached:\n" << killed.err;
    // A run killed before its first checkpoint starts again in its folder; any other resumes.
    const bool started = ganpp::holds_run(run);
    const auto again = run_ganpp(started ? std::vector<std::string>{"train", "--threads", "1", "--resume", run}
                                         : with_cadence({"train", "--out", run}));
    ASSERT_EQ(again.code, 0) << point << ": " << again.err;
    expect_same(run, point);
  }
  for (const int delay_ms : {700, 1300}) {  // "random" moments, fixed so that a failure reproduces
    const std::string run = root_ + "/kill-random-" + std::to_string(delay_ms);
    auto p = start_ganpp(with_cadence({"train", "--out", run}));
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(p.pid, SIGKILL);
    p.wait();
    const bool started = ganpp::holds_run(run);
    const auto again = run_ganpp(started ? std::vector<std::string>{"train", "--threads", "1", "--resume", run}
                                         : with_cadence({"train", "--out", run}));
    ASSERT_EQ(again.code, 0) << again.err;
    expect_same(run, "killed after " + std::to_string(delay_ms) + " ms");
  }
}

TEST_F(ReliabilityTest, ASecondWriterIsRefusedWhileReadersWork) {
  const std::string run = root_ + "/two-writers";
  auto first = start_ganpp(tiny({"train", "--out", run, "--set", "train.steps=100000", "--set", "train.log_every=1",
                                 "--set", "train.checkpoint_every=2"}));
  ASSERT_TRUE(wait_for_log(run, 3)) << first.err();
  // Wait for the first checkpoint, so that the second writer finds a run to resume.
  for (int i = 0; i < 600 && !fs::exists(ganpp::latest_checkpoint_path(run)); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto second = run_ganpp({"train", "--threads", "1", "--resume", run});
  expect_error(second, 2, {"run directory '" + run + "' is in use by " + std::to_string(first.pid) + "@"});
  const auto sample = run_ganpp({"sample", "--checkpoint", run, "--n", "2", "--grid", root_ + "/reader.png"});
  EXPECT_EQ(sample.code, 0) << sample.err;
  ::kill(first.pid, SIGTERM);
  ASSERT_EQ(first.wait(), 128 + SIGTERM) << first.err();
  // One writer: the log's steps go up by one, never repeated.
  const auto records = ganpp::read_log(run);
  for (size_t i = 0; i < records.size(); ++i) EXPECT_EQ(records[i]["step"].get<int64_t>(), int64_t(i + 1));
  // The lock went with the process: the run resumes.
  const auto resumed = run_ganpp({"train", "--threads", "1", "--resume", run, "--set",
                                  "train.steps=" + std::to_string(records.size() + 1)});
  EXPECT_EQ(resumed.code, 0) << resumed.err;
}

TEST_F(ReliabilityTest, AFlippedByteIsCaughtBeforeLoadingAndResumeNamesAnIntactCheckpoint) {
  const std::string run = copy_of_run("flipped");
  const std::string latest = ganpp::latest_checkpoint_path(run);
  std::string bytes = ganpp::read_file(latest);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x10);
  write_bytes(latest, bytes);
  const std::string log_before = slurp(ganpp::log_path(run)), config_before = slurp(ganpp::config_path(run));
  const std::string damaged = "checkpoint '" + latest + "' is damaged: its checksum does not match its content";
  expect_error(run_ganpp({"sample", "--checkpoint", run, "--n", "2", "--grid", root_ + "/flipped.png"}), 1, {damaged});
  expect_error(run_ganpp({"inspect", run}), 1, {damaged});
  expect_error(run_ganpp({"export", "--checkpoint", run, "--out", root_ + "/flipped.pt"}), 1, {damaged});
  const std::string intact = ganpp::checkpoint_path(run, 4);
  expect_error(run_ganpp({"train", "--resume", run, "--set", "train.steps=6"}), 1,
               {damaged, "the newest intact checkpoint is " + intact + ": resume from it with 'ganpp train --resume " +
                             intact + "'"});
  EXPECT_EQ(slurp(ganpp::log_path(run)), log_before);
  EXPECT_EQ(slurp(ganpp::config_path(run)), config_before);
  EXPECT_FALSE(fs::exists(root_ + "/flipped.png"));
  // A truncated checkpoint says so.
  write_bytes(latest, bytes.substr(0, bytes.size() - 100));
  expect_error(run_ganpp({"inspect", run}), 1, {"is damaged: it holds"});
  // Checkpoints from before the checksum frame (format 2) are checked by their zip archive's own CRC-32s.
  const std::string old = root_ + "/format2.ckpt";
  std::string old_bytes = slurp(source_path("tests/fixtures/format2/run/checkpoints/latest.ckpt"));
  old_bytes[old_bytes.size() / 3] = static_cast<char>(old_bytes[old_bytes.size() / 3] ^ 0x01);
  write_bytes(old, old_bytes);
  expect_error(run_ganpp({"inspect", old}), 1, {"checkpoint '" + old + "' is damaged: a zip entry's CRC-32"});
  // A zip64 size marker in a small file was a way around that check (found by fuzz_checkpoint; LibTorch's
  // TorchScript parser then crashed on the unchecked content): it is damage too.
  std::string zip64 = slurp(source_path("tests/fixtures/format2/run/checkpoints/latest.ckpt"));
  const size_t directory = zip64.find("PK\x01\x02");
  ASSERT_NE(directory, std::string::npos);
  zip64.replace(directory + 20, 4, "\xFF\xFF\xFF\xFF");  // the first entry's compressed size
  write_bytes(old, zip64);
  expect_error(run_ganpp({"inspect", old}), 1, {"is damaged: its zip archive claims zip64 sizes"});
  // The intact one resumes.
  const auto r = run_ganpp({"train", "--threads", "1", "--resume", intact, "--set", "train.steps=6"});
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(ReliabilityTest, AnotherRunsCheckpointIsRefusedWithNothingWritten) {
  const std::string run = copy_of_run("foreign");
  const std::string other = root_ + "/other-mlp";
  const auto r = run_ganpp(tiny({"train", "--out", other, "--set", "model.arch=mlp", "--set", "train.steps=2"}));
  ASSERT_EQ(r.code, 0) << r.err;
  fs::copy_file(ganpp::latest_checkpoint_path(other), ganpp::latest_checkpoint_path(run),
                fs::copy_options::overwrite_existing);
  const std::string log_before = slurp(ganpp::log_path(run)), config_before = slurp(ganpp::config_path(run));
  const std::string ckpt_before = slurp(ganpp::latest_checkpoint_path(run));
  expect_error(run_ganpp({"train", "--resume", run, "--set", "train.steps=6"}), 1,
               {"belongs to another run", "nothing was changed"});
  EXPECT_EQ(slurp(ganpp::log_path(run)), log_before);
  EXPECT_EQ(slurp(ganpp::config_path(run)), config_before);
  EXPECT_EQ(slurp(ganpp::latest_checkpoint_path(run)), ckpt_before);
}

TEST_F(ReliabilityTest, ChangedDataIsRefusedUnlessTheResumeAllowsIt) {
  const std::string data = root_ + "/folder";
  write_image_folder(data, {}, 12, 16, 1);
  const std::string run = root_ + "/changed";
  const auto r = run_ganpp(tiny({"train", "--out", run, "--set", "train.steps=2", "--set", "data.channels=1"}, data));
  ASSERT_EQ(r.code, 0) << r.err;
  // Unchanged data resumes; a copy of the image with another name changes the fingerprint.
  const auto files = ganpp::list_image_files(data);
  fs::copy_file(files[0], data + "/zz_added.png");
  const std::string log_before = slurp(ganpp::log_path(run));
  expect_error(run_ganpp({"train", "--resume", run, "--set", "train.steps=4"}), 1,
               {"the data at '" + data + "' changed since the run started", "--allow-changed-data"});
  EXPECT_EQ(slurp(ganpp::log_path(run)), log_before);
  const auto allowed = run_ganpp({"train", "--resume", run, "--set", "train.steps=4", "--allow-changed-data"});
  ASSERT_EQ(allowed.code, 0) << allowed.err;
  EXPECT_TRUE(contains(allowed.out, "no longer an exact continuation")) << allowed.out;
  bool recorded = false;
  for (const auto& record : ganpp::read_log(run)) recorded |= record.value("event", std::string()) == "data_changed";
  EXPECT_TRUE(recorded);
  expect_error(run_ganpp({"train", "--out", root_ + "/x", "--allow-changed-data"}), 2, {"only applies to --resume"});
}

TEST_F(ReliabilityTest, ARunThatNeverCheckpointedIsNoDeadEnd) {
  // What a run killed before its first checkpoint leaves: config.json, a log, an empty checkpoints/.
  const std::string dead = copy_of_run("dead-end");
  fs::remove_all(dead + "/checkpoints");
  fs::create_directories(dead + "/checkpoints");
  expect_error(run_ganpp({"train", "--resume", dead}), 1,
               {"holds no checkpoint", "start it again with 'ganpp train --out " + dead + "'"});
  const auto r = run_ganpp(tiny({"train", "--out", dead, "--set", "train.steps=2"}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "stopped before its first checkpoint; starting over in it")) << r.out;
  EXPECT_EQ(ganpp::read_log(dead).size(), 1u);  // the old run's records went with it
  // A batch larger than the data is refused before any folder is made.
  const std::string none = root_ + "/never-made";
  expect_error(run_ganpp(tiny({"train", "--out", none, "--set", "train.batch_size=64"})), 1,
               {"fewer than train.batch_size = 64"});
  EXPECT_FALSE(fs::exists(none));
}

TEST_F(ReliabilityTest, FilesThatAreNotCheckpointsAreNamedForWhatTheyAre) {
  // A classifier file (its format marker is what identifies it).
  const std::string classifier = root_ + "/classifier.pt";
  {
    torch::serialize::OutputArchive archive;
    archive.write("ganpp_format", c10::IValue(std::string(ganpp::kClassifierFormat)));
    archive.write("format_version", c10::IValue(int64_t{1}));
    archive.save_to(classifier);
  }
  expect_error(run_ganpp({"sample", "--checkpoint", classifier, "--n", "2", "--grid", root_ + "/c.png"}), 1,
               {"is a ganpp classifier", "eval --features"});
  const std::string exported = root_ + "/generator.pt";
  ASSERT_EQ(run_ganpp({"export", "--checkpoint", run_, "--out", exported}).code, 0);
  expect_error(run_ganpp({"inspect", exported}), 1, {"is a PyTorch pickle file", "ganpp export"});
  const std::string png = run_ + "/samples/step_000004.png";
  expect_error(run_ganpp({"inspect", png}), 1, {"is an image, not a checkpoint"});
  expect_error(run_ganpp({"eval", "--checkpoint", run_, "--features", ganpp::latest_checkpoint_path(run_), "--n",
                          "10"}),
               1, {"is a ganpp training checkpoint", "--checkpoint"});
}

}  // namespace
