// report.html of a run directory: one self-contained page (no network) with the config, every numeric
// log.jsonl series drawn as inline SVG, the health warnings and the sample grids over time.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace ganpp {

/// One line of a chart: (x, y) points; non-finite y values are left out.
struct ChartSeries {
  std::string name;
  std::vector<double> x, y;
};

/// An SVG line chart (axes, ticks, one coloured polyline per series, legend) as an inline <svg> element.
std::string svg_line_chart(const std::string& title, const std::vector<ChartSeries>& series, int width = 600,
                           int height = 260);

/// `text` with &, <, > and " replaced by entities.
std::string html_escape(const std::string& text);

/// At most `max` indices into [0, n), evenly spaced, always including the first and the last.
std::vector<size_t> evenly_spaced(size_t n, size_t max);

/// The chart a log.jsonl key belongs to: "Losses", "Discriminator outputs", "Gradient norms",
/// "Diversity", the sample-quality charts of evaluations, "Speed", or the key itself (any other numeric
/// series gets a chart of its own). Empty for bookkeeping values that are shown only in the tables
/// (an evaluation's sample counts and KID's spread).
std::string metric_group(const std::string& key);

/// Bounds that keep report.html small on long runs.
inline constexpr size_t kReportMaxPoints = 1000;  ///< points per series (evenly subsampled)
inline constexpr size_t kReportMaxGrids = 12;     ///< sample grids shown (evenly spaced, first and last kept)

/// The page for `run_dir`. Throws RuntimeError when the folder has no log.jsonl.
std::string build_report(const std::string& run_dir);

/// Writes RUN_DIR/report.html atomically; returns its path.
std::string write_report(const std::string& run_dir);

}  // namespace ganpp
