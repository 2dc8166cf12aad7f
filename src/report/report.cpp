// Builds report.html from a run directory's log.jsonl, config.json and samples/ (see report.hpp).
// Every numeric log key is plotted, grouped by metric_group, so metrics added later appear unchanged.
#include "ganpp/report.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <regex>
#include <sstream>

#include <spdlog/fmt/fmt.h>

#include "ganpp/config.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/files.hpp"
#include "ganpp/run_dir.hpp"

namespace fs = std::filesystem;

namespace ganpp {
namespace {

constexpr size_t kMaxWarnings = 20;  // newest warnings listed on the page

constexpr const char* kStyle = R"(
body { font-family: sans-serif; margin: 1.5em; color: #222; background: #fff; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.meta { color: #555; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg.chart { border: 1px solid #ddd; background: #fff; font-size: 11px; }
svg.chart .title { font-weight: bold; font-size: 13px; }
svg.chart .plot { fill: #fcfcfc; stroke: #999; }
svg.chart .grid { stroke: #e4e4e4; }
svg.chart .ytick { text-anchor: end; fill: #444; } svg.chart .xtick { text-anchor: middle; fill: #444; }
svg.chart .xlabel { text-anchor: middle; fill: #444; } svg.chart .legend { fill: #222; }
svg.chart .series { fill: none; stroke-width: 1.5; }
.grids { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; text-align: center; }
figure img { width: 240px; image-rendering: pixelated; border: 1px solid #ddd; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
.warn { color: #a00; }
pre { background: #f6f6f6; padding: 0.8em; max-height: 30em; overflow: auto; }
)";

// Every numeric key but step and epoch, as a series over steps, in order of first appearance.
// nlohmann writes NaN and infinities as null: they become gaps.
std::vector<ChartSeries> numeric_series(const std::vector<Json>& records) {
  std::vector<ChartSeries> series;
  std::map<std::string, size_t> index;
  for (const auto& r : records) {
    const double step = r["step"].get<double>();
    for (const auto& [key, value] : r.items()) {
      if (key == "step" || key == "epoch" || !(value.is_number() || value.is_null())) continue;
      auto [it, added] = index.emplace(key, series.size());
      if (added) series.push_back({key, {}, {}});
      series[it->second].x.push_back(step);
      series[it->second].y.push_back(value.is_number() ? value.get<double>()
                                                       : std::numeric_limits<double>::quiet_NaN());
    }
  }
  // A key that was only ever null is no numeric series.
  series.erase(std::remove_if(series.begin(), series.end(),
                              [](const ChartSeries& s) {
                                return std::none_of(s.y.begin(), s.y.end(), [](double v) { return std::isfinite(v); });
                              }),
               series.end());
  return series;
}

ChartSeries downsampled(const ChartSeries& s) {
  ChartSeries out{s.name, {}, {}};
  for (size_t i : evenly_spaced(s.x.size(), kReportMaxPoints)) {
    out.x.push_back(s.x[i]);
    out.y.push_back(s.y[i]);
  }
  return out;
}

std::string charts_html(const std::vector<ChartSeries>& series) {
  static const std::vector<std::string> kOrder = {"Losses",    "Discriminator outputs",   "Gradient norms",
                                                  "Diversity", "Fréchet distance (eval)", "Precision and recall (eval)",
                                                  "KID (eval)"};
  std::vector<std::pair<std::string, std::vector<ChartSeries>>> groups;
  for (const auto& g : kOrder) groups.push_back({g, {}});
  for (const auto& s : series) {
    const std::string group = metric_group(s.name);
    if (group.empty()) continue;
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == group; });
    if (it == groups.end()) {
      groups.push_back({group, {}});
      it = std::prev(groups.end());
    }
    it->second.push_back(downsampled(s));
  }
  // Speed last: it is the least telling about the model.
  std::stable_partition(groups.begin(), groups.end(), [](const auto& g) { return g.first != "Speed"; });
  std::string html = "<div class=\"charts\">\n";
  for (const auto& [title, members] : groups)
    if (!members.empty()) html += svg_line_chart(title, members);
  return html + "</div>\n";
}

std::string latest_table(const Json& record) {
  std::string html = "<table>\n";
  for (const auto& [key, value] : record.items()) {
    if (key == "warnings") continue;
    const std::string text = value.is_number_float() ? fmt::format("{:.6g}", value.get<double>()) : value.dump();
    html += "<tr><th>" + html_escape(key) + "</th><td>" + html_escape(text) + "</td></tr>\n";
  }
  return html + "</table>\n";
}

std::string warnings_html(const std::vector<Json>& records) {
  std::vector<std::string> all;
  for (const auto& r : records)
    if (r.contains("warnings") && r["warnings"].is_array())
      for (const auto& w : r["warnings"])
        if (w.is_string()) all.push_back(w.get<std::string>());
  if (all.empty()) return "<p>No health warnings.</p>\n";
  std::string html = fmt::format("<p class=\"warn\">{} warning(s){}:</p>\n<ul>\n", all.size(),
                                 all.size() > kMaxWarnings ? fmt::format(", the newest {}", kMaxWarnings) : "");
  for (size_t i = all.size() > kMaxWarnings ? all.size() - kMaxWarnings : 0; i < all.size(); ++i)
    html += "<li class=\"warn\">" + html_escape(all[i]) + "</li>\n";
  return html + "</ul>\n";
}

// samples/step_NNNNNN.png files, by step; shown evenly spaced, linked relatively so a copied run folder works.
std::string grids_html(const std::string& run_dir) {
  static const std::regex kGrid(R"(step_(\d{6,})\.png)");
  std::vector<std::pair<int64_t, std::string>> grids;
  std::error_code ec;
  for (fs::directory_iterator it(fs::path(run_dir) / "samples", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::smatch m;
    if (std::regex_match(name, m, kGrid)) grids.emplace_back(std::stoll(m[1].str()), name);
  }
  if (grids.empty()) return "<p>No sample grids yet.</p>\n";
  std::sort(grids.begin(), grids.end());
  std::string html = fmt::format("<p class=\"meta\">{} of {} grids (the same fixed latents throughout).</p>\n",
                                 std::min(grids.size(), kReportMaxGrids), grids.size());
  html += "<div class=\"grids\">\n";
  for (size_t i : evenly_spaced(grids.size(), kReportMaxGrids))
    html += fmt::format("<figure><a href=\"samples/{0}\"><img src=\"samples/{0}\" alt=\"samples at step {1}\"></a>"
                        "<figcaption>step {1}</figcaption></figure>\n",
                        grids[i].second, grids[i].first);
  return html + "</div>\n";
}

}  // namespace

std::vector<size_t> evenly_spaced(size_t n, size_t max) {
  std::vector<size_t> out;
  if (n == 0 || max == 0) return out;
  if (n <= max || max == 1) {
    for (size_t i = 0; i < (n <= max ? n : 1); ++i) out.push_back(i);
    if (n > max) out.back() = n - 1;
    return out;
  }
  for (size_t k = 0; k < max; ++k) {
    const size_t i = static_cast<size_t>(std::llround(static_cast<double>(k) * (n - 1) / (max - 1)));
    if (out.empty() || out.back() != i) out.push_back(i);
  }
  return out;
}

std::string metric_group(const std::string& key) {
  if (key.rfind("loss_", 0) == 0) return "Losses";
  if (key == "d_real" || key == "d_fake" || key == "critic_real" || key == "critic_fake" || key == "wasserstein" ||
      key == "gp")
    return "Discriminator outputs";
  if (key == "r1" || key == "r2") return "Zero-centred penalties";
  if (key == "ada_p" || key == "ada_rt" || key == "sign_real") return "Overfitting (r_t) and ADA's p";
  if (key.rfind("grad_norm", 0) == 0) return "Gradient norms";
  if (key.rfind("diversity", 0) == 0) return "Diversity";
  if (key == "images_per_s") return "Speed";
  if (key == "data_wait_ms") return "Data loading (ms waited per log interval)";
  if (key == "fd") return "Fréchet distance (eval)";
  if (key == "kid") return "KID (eval)";
  if (key == "precision" || key == "recall") return "Precision and recall (eval)";
  if (key == "eval_n" || key == "eval_n_reference" || key == "kid_std") return "";
  return key;
}

std::string build_report(const std::string& run_dir) {
  if (!fs::exists(log_path(run_dir)))
    throw RuntimeError("no log.jsonl in '" + run_dir +
                       "': not a run directory, or the run has not logged a step yet; "
                       "pass the folder that 'ganpp train --out' wrote");
  const std::vector<Json> records = read_log(run_dir);
  const std::string name = fs::path(run_dir).lexically_normal().filename().string();
  std::string config_text = "(no config.json in the run directory)";
  Json run_info;
  if (fs::exists(config_path(run_dir))) {
    const Json config = Json::parse(read_file(config_path(run_dir)), nullptr, /*allow_exceptions=*/false);
    config_text = config.is_discarded() ? "(config.json does not parse)" : config.dump(2);
    if (config.is_object() && config.contains("run")) run_info = config["run"];
  }
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>ganpp run " +
                     html_escape(name) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
  html += "<h1>ganpp run " + html_escape(name) + "</h1>\n";
  std::string meta = records.empty() ? "no steps logged yet"
                                     : fmt::format("step {}, epoch {}", records.back()["step"].dump(),
                                                   records.back().value("epoch", Json()).dump());
  if (run_info.is_object())
    for (const char* key : {"device", "threads", "ganpp_version", "libtorch_version"})
      if (run_info.contains(key))
        meta += std::string(" · ") + key + " " +
                (run_info[key].is_string() ? run_info[key].get<std::string>() : run_info[key].dump());
  html += "<p class=\"meta\">" + html_escape(meta) + "</p>\n";
  html += "<h2>Health</h2>\n" + warnings_html(records);
  html += "<h2>Curves</h2>\n";
  html += "<p class=\"meta\">Every numeric value of log.jsonl over steps (at most " + std::to_string(kReportMaxPoints) +
          " points per curve). D outputs are probabilities for bce/minimax, raw critic values otherwise; gradient "
          "norms are before clipping; diversity is the mean pairwise RMS distance of the fixed-latent samples, "
          "against the same measure on real images.</p>\n";
  html += charts_html(numeric_series(records));
  html += "<h2>Samples</h2>\n" + grids_html(run_dir);
  // The newest training record and, separately, the newest evaluation (its own records carry no losses).
  const auto latest_with = [&](const char* key) -> const Json* {
    for (auto it = records.rbegin(); it != records.rend(); ++it)
      if (it->contains(key)) return &*it;
    return nullptr;
  };
  if (const Json* r = latest_with("loss_d")) html += "<h2>Latest record</h2>\n" + latest_table(*r);
  if (const Json* r = latest_with("fd")) html += "<h2>Latest evaluation</h2>\n" + latest_table(*r);
  html += "<h2>Config</h2>\n<pre>" + html_escape(config_text) + "</pre>\n</body>\n</html>\n";
  return html;
}

std::string write_report(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / "report.html").string();
  write_file_atomic(path, build_report(run_dir));
  return path;
}

}  // namespace ganpp
