// The progress line: duration and line formatting, redraw pacing, ETA, and clearing on a fake terminal.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "ganpp/progress.hpp"

using namespace ganpp;
using namespace std::chrono_literals;

namespace {

TEST(ProgressTest, DurationsReadLikeAPersonWouldSayThem) {
  EXPECT_EQ(format_duration(0), "0s");
  EXPECT_EQ(format_duration(42.4), "42s");
  EXPECT_EQ(format_duration(185), "3m05s");
  EXPECT_EQ(format_duration(7620), "2h07m");
  EXPECT_EQ(format_duration(90000), "1d01h");
  EXPECT_EQ(format_duration(NAN), "?");
  EXPECT_EQ(format_duration(-1), "?");
}

TEST(ProgressTest, LineShowsStepEpochSpeedEtaAndLosses) {
  EXPECT_EQ(format_progress({120, 600, 0.256, 512.34, 65, 0.69314, 0.70123}),
            "step 120/600 (20%) | epoch 0.26 | 512.3 img/s | ETA 1m05s | loss D 0.6931 G 0.7012");
  EXPECT_EQ(format_progress({1, 600, 0.0, NAN, NAN, NAN, NAN}),
            "step 1/600 (0%) | epoch 0.00 | - img/s | ETA ? | loss D - G -");
}

TEST(ProgressTest, RedrawsInPlaceAtMostEveryIntervalWithTheLastLoggedLosses) {
  const auto t0 = Progress::Clock::time_point{} + 100s;
  std::ostringstream out;
  Progress p(&out, /*start_step=*/0, /*total_steps=*/10, /*redraw_s=*/0.25, t0);
  p.tick(1, 0.1, 64, t0 + 100ms);
  EXPECT_EQ(out.str(), "");  // too soon
  p.set_losses(1.25, 0.75);
  p.tick(2, 0.2, 64, t0 + 500ms);
  // 128 images in 0.5 s; 0.25 s per step so far and 8 steps left.
  EXPECT_EQ(out.str(), "\rstep 2/10 (20%) | epoch 0.20 | 256.0 img/s | ETA 2s | loss D 1.2500 G 0.7500\x1b[K");
  out.str("");
  p.clear();
  EXPECT_EQ(out.str(), "\r\x1b[K");
  out.str("");
  p.clear();  // nothing drawn since: nothing to erase
  EXPECT_EQ(out.str(), "");
  p.tick(10, 1.0, 64, t0 + 510ms);  // the last step always draws
  EXPECT_NE(out.str().find("step 10/10 (100%)"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("ETA 0s"), std::string::npos) << out.str();
}

TEST(ProgressTest, WithoutATerminalNothingIsDrawnButTheEtaIsKnown) {
  const auto t0 = Progress::Clock::time_point{} + 100s;
  Progress p(nullptr, /*start_step=*/100, /*total_steps=*/200, 0.25, t0);
  EXPECT_TRUE(std::isnan(p.eta_seconds(100, t0)));
  p.tick(150, 1.0, 64, t0 + 10s);
  p.clear();
  EXPECT_DOUBLE_EQ(p.eta_seconds(150, t0 + 10s), 10.0);  // resumed at 100: 50 steps in 10 s, 50 to go
}

}  // namespace
