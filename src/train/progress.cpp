// Console progress of training (see progress.hpp): formatting and the in-place terminal line.
#include "ganpp/progress.hpp"

#include <cmath>
#include <limits>

#include <spdlog/fmt/fmt.h>

namespace ganpp {
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string number_or_dash(double v, int decimals) {
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : std::string("-");
}
}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(std::llround(seconds));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d{:02}h", s / 86400, (s % 86400) / 3600);
}

std::string format_progress(const ProgressStatus& p) {
  const double percent = p.total > 0 ? 100.0 * static_cast<double>(p.step) / static_cast<double>(p.total) : 0.0;
  return fmt::format("step {}/{} ({:.0f}%) | epoch {:.2f} | {} img/s | ETA {} | loss D {} G {}", p.step, p.total,
                     std::floor(percent), p.epoch, number_or_dash(p.images_per_s, 1), format_duration(p.eta_s),
                     number_or_dash(p.loss_d, 4), number_or_dash(p.loss_g, 4));
}

Progress::Progress(std::ostream* live, int64_t start_step, int64_t total_steps, double redraw_s, Clock::time_point now)
    : live_(live), start_step_(start_step), total_(total_steps), redraw_s_(redraw_s), start_(now), last_draw_(now),
      loss_d_(kNaN), loss_g_(kNaN) {}

void Progress::set_losses(double loss_d, double loss_g) {
  loss_d_ = loss_d;
  loss_g_ = loss_g;
}

double Progress::eta_seconds(int64_t step, Clock::time_point now) const {
  if (step <= start_step_) return kNaN;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  return elapsed / static_cast<double>(step - start_step_) * static_cast<double>(total_ - step);
}

void Progress::tick(int64_t step, double epoch, int64_t images, Clock::time_point now) {
  images_since_draw_ += images;
  if (!live_) return;
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since < redraw_s_ && step < total_) return;
  ProgressStatus status{step,    total_, epoch, since > 0 ? images_since_draw_ / since : kNaN, eta_seconds(step, now),
                        loss_d_, loss_g_};
  // "\r" returns to the line start and "\x1b[K" erases what a longer previous line left behind.
  *live_ << '\r' << format_progress(status) << "\x1b[K" << std::flush;
  drawn_ = true;
  last_draw_ = now;
  images_since_draw_ = 0;
}

void Progress::clear() {
  if (!live_ || !drawn_) return;
  *live_ << "\r\x1b[K" << std::flush;
  drawn_ = false;
}

}  // namespace ganpp
