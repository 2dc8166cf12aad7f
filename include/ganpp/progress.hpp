// The console progress of a training run: a status line (step/total, epoch, images/s, ETA, latest
// losses) redrawn in place on a terminal, and the ETA that the periodic log lines show.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace ganpp {

/// What the status line shows; NaN where a value is not known yet.
struct ProgressStatus {
  int64_t step = 0;
  int64_t total = 0;
  double epoch = 0;
  double images_per_s = 0;
  double eta_s = 0;
  double loss_d = 0;
  double loss_g = 0;
};

/// "step 120/600 (20%) | epoch 0.26 | 512.3 img/s | ETA 1m05s | loss D 0.6931 G 0.7012".
std::string format_progress(const ProgressStatus& status);

/// A duration for people: "42s", "3m05s", "2h07m", "3d04h"; "?" when negative or not finite.
std::string format_duration(double seconds);

/// Tracks the pace of a run and, given a terminal stream, keeps one status line there, redrawn with
/// '\r' at most every `redraw_s` seconds. It never touches the device: losses come from the last log
/// record, and images/s from the host's clock (on a GPU, the rate at which steps are queued).
class Progress {
 public:
  using Clock = std::chrono::steady_clock;

  /// `live`: where the in-place line goes (a terminal), or null for none.
  Progress(std::ostream* live, int64_t start_step, int64_t total_steps, double redraw_s = 0.25,
           Clock::time_point now = Clock::now());

  /// After each step: `images` real images that step consumed. Redraws the line when it is due.
  void tick(int64_t step, double epoch, int64_t images, Clock::time_point now = Clock::now());

  /// The losses of the latest log record, shown until the next one.
  void set_losses(double loss_d, double loss_g);

  /// Seconds left at the average pace since the start (NaN before the first step).
  double eta_seconds(int64_t step, Clock::time_point now = Clock::now()) const;

  /// Erases the line so that other console output starts on a clean line; the next tick redraws it.
  void clear();

  ~Progress() { clear(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

 private:
  std::ostream* live_;
  int64_t start_step_, total_;
  double redraw_s_;
  Clock::time_point start_, last_draw_;
  int64_t images_since_draw_ = 0;
  double loss_d_, loss_g_;
  bool drawn_ = false;
};

}  // namespace ganpp
