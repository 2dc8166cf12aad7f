// Inline SVG line charts for report.html: nice tick values, scaled polylines, a legend.
#include <algorithm>
#include <cmath>
#include <limits>

#include <spdlog/fmt/fmt.h>

#include "ganpp/report.hpp"

namespace ganpp {
namespace {

constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                   "#9467bd", "#8c564b", "#e377c2", "#17becf"};

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

// About `count` round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi].
std::vector<double> ticks(double lo, double hi, int count) {
  const double raw = (hi - lo) / count;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * power) {
      step = m * power;
      break;
    }
  std::vector<double> out;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push_back(std::abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

std::string label(double v) {
  const double a = std::abs(v);
  if (a != 0 && (a >= 1e5 || a < 1e-3)) return fmt::format("{:.1e}", v);
  return fmt::format("{:.4g}", v);
}

}  // namespace

std::string svg_line_chart(const std::string& title, const std::vector<ChartSeries>& series, int width, int height) {
  constexpr double kLeft = 62, kRight = 14, kTop = 42, kBottom = 40;  // the legend sits above the plot
  const double inf = std::numeric_limits<double>::infinity();
  double x0 = inf, x1 = -inf, y0 = inf, y1 = -inf;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i]) || !std::isfinite(s.x[i])) continue;
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
    }
  std::string svg = fmt::format(
      "<svg class=\"chart\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "role=\"img\" aria-label=\"{2}\">\n<text x=\"{3}\" y=\"18\" class=\"title\">{2}</text>\n",
      width, height, html_escape(title), kLeft);
  if (x0 > x1) return svg + "<text x=\"70\" y=\"80\">no finite values yet</text>\n</svg>\n";
  if (x0 == x1) x0 -= 1, x1 += 1;
  if (y0 == y1) {
    const double pad = y0 == 0 ? 1 : std::abs(y0) * 0.1;
    y0 -= pad, y1 += pad;
  } else {
    const double pad = (y1 - y0) * 0.05;
    y0 -= pad, y1 += pad;
  }
  const double pw = width - kLeft - kRight, ph = height - kTop - kBottom;
  auto px = [&](double x) { return kLeft + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return kTop + (y1 - y) / (y1 - y0) * ph; };

  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"plot\"/>\n", kLeft, kTop, pw, ph);
  for (double t : ticks(y0, y1, 5))
    svg += fmt::format(
        "<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" class=\"grid\"/><text x=\"{3}\" y=\"{4:.1f}\" "
        "class=\"ytick\">{5}</text>\n",
        kLeft, kLeft + pw, py(t), kLeft - 4, py(t) + 4, label(t));
  for (double t : ticks(x0, x1, 6))
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1}\" y2=\"{2}\" class=\"grid\"/><text x=\"{0:.1f}\" y=\"{3}\" "
        "class=\"xtick\">{4}</text>\n",
        px(t), kTop, kTop + ph, kTop + ph + 14, label(t));
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" class=\"xlabel\">step</text>\n", kLeft + pw / 2, height - 6);

  double legend_x = kLeft + 8;
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const char* color = kColors[k % (sizeof(kColors) / sizeof(kColors[0]))];
    std::string points;
    size_t n = 0;
    double last_x = 0, last_y = 0;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i]) || !std::isfinite(s.x[i])) continue;
      last_x = px(s.x[i]), last_y = py(s.y[i]);
      points += fmt::format("{}{:.1f},{:.1f}", n++ ? " " : "", last_x, last_y);
    }
    svg += fmt::format("<polyline class=\"series\" data-series=\"{}\" stroke=\"{}\" points=\"{}\"/>\n",
                       html_escape(s.name), color, points);
    if (n == 1)  // a lone point draws no line: mark it
      svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", last_x, last_y, color);
    svg += fmt::format(
        "<rect x=\"{0:.1f}\" y=\"{1}\" width=\"12\" height=\"3\" fill=\"{2}\"/><text x=\"{3:.1f}\" y=\"{4}\" "
        "class=\"legend\">{5}</text>\n",
        legend_x, kTop - 12, color, legend_x + 16, kTop - 7, html_escape(s.name));
    legend_x += 28 + 7.0 * static_cast<double>(s.name.size());
  }
  return svg + "</svg>\n";
}

}  // namespace ganpp
