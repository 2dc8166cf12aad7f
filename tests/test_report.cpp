// report.html: evenly spaced selections, metric groups, the SVG charts, and a whole page built from a
// constructed run directory (bounded size, relative links to existing grids, no network references).
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "ganpp/config.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/image.hpp"
#include "ganpp/report.hpp"
#include "ganpp/run_dir.hpp"
#include "helpers.hpp"

namespace fs = std::filesystem;
using namespace ganpp;
using namespace ganpp::test;

namespace {

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

TEST(ReportTest, EvenlySpacedKeepsFirstAndLast) {
  EXPECT_EQ(evenly_spaced(5, 12), (std::vector<size_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(evenly_spaced(7, 3), (std::vector<size_t>{0, 3, 6}));
  EXPECT_EQ(evenly_spaced(3, 1), (std::vector<size_t>{2}));
  EXPECT_TRUE(evenly_spaced(0, 5).empty());
  const auto many = evenly_spaced(100000, 1000);
  ASSERT_EQ(many.size(), 1000u);
  EXPECT_EQ(many.front(), 0u);
  EXPECT_EQ(many.back(), 99999u);
  EXPECT_TRUE(std::is_sorted(many.begin(), many.end()));
}

TEST(ReportTest, KeysFallIntoGroupsAndUnknownKeysGetTheirOwnChart) {
  EXPECT_EQ(metric_group("loss_d"), "Losses");
  EXPECT_EQ(metric_group("d_fake"), "Discriminator outputs");
  EXPECT_EQ(metric_group("wasserstein"), "Discriminator outputs");
  EXPECT_EQ(metric_group("grad_norm_g"), "Gradient norms");
  EXPECT_EQ(metric_group("diversity_real"), "Diversity");
  EXPECT_EQ(metric_group("images_per_s"), "Speed");
  EXPECT_EQ(metric_group("data_wait_ms"), "Data loading (ms waited per log interval)");
  EXPECT_EQ(metric_group("fd"), "Fréchet distance (eval)");
  EXPECT_EQ(metric_group("recall"), "Precision and recall (eval)");
  EXPECT_EQ(metric_group("eval_n"), "");  // a count, shown in the evaluation table only
  EXPECT_EQ(metric_group("my_new_metric"), "my_new_metric");
}

TEST(ReportTest, ChartHasOnePolylinePerSeriesWithScaledPoints) {
  const std::string svg = svg_line_chart("Losses <1>",
                                         {{"loss_d", {0, 10}, {1, 2}}, {"loss_g", {0, 5, 10}, {3, NAN, 1}}});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("Losses &lt;1&gt;"), std::string::npos);
  EXPECT_EQ(count(svg, "<polyline"), 2u);
  EXPECT_NE(svg.find("data-series=\"loss_d\""), std::string::npos);
  // loss_g's NaN is left out: two points.
  const std::regex g(R"re(data-series="loss_g" stroke="[^"]+" points="([^"]*)")re");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(svg, m, g));
  EXPECT_EQ(count(m[1].str(), ","), 2u);
  EXPECT_NE(svg_line_chart("empty", {}).find("no finite values"), std::string::npos);
}

TEST(ReportTest, PageOfALongRunIsBoundedSelfContainedAndLinksExistingGrids) {
  TempDir run("report-run");
  fs::create_directories(run.path + "/samples");
  std::string log;
  for (int step = 10; step <= 30000; step += 10) {
    Json r = {{"step", step},       {"epoch", step / 1000.0}, {"loss_d", 1.0 + 1.0 / step},
              {"loss_g", 2.0},      {"d_real", 0.7},          {"d_fake", 0.3},
              {"grad_norm_d", 0.5}, {"grad_norm_g", 1.5},     {"images_per_s", 500.0}};
    if (step % 1000 == 0) {
      r["diversity"] = 0.4;
      r["diversity_real"] = 0.6;
      r["fd"] = 100.0 - step / 1000.0;  // a metric this code has never heard of
      write_png(sample_path(run.path, step), torch::zeros({1, 4, 4}));
    }
    if (step == 20000) r["warnings"] = {"possible mode collapse <test>"};
    log += r.dump() + "\n";
  }
  log += "{\"step\": 30010, \"loss";  // a half-written last line is skipped
  write_bytes(run.path + "/log.jsonl", log);
  write_bytes(run.path + "/config.json", R"({"train": {"steps": 30000}, "run": {"device": "cpu"}})");

  const std::string path = write_report(run.path);
  EXPECT_EQ(path, run.path + "/report.html");
  const std::string html = slurp(path);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  for (const std::string key : {"loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g", "diversity",
                                "diversity_real", "fd", "images_per_s"})
    EXPECT_NE(html.find("data-series=\"" + key + "\""), std::string::npos) << key;
  EXPECT_EQ(html.find("data-series=\"step\""), std::string::npos);
  EXPECT_EQ(html.find("data-series=\"epoch\""), std::string::npos);
  // Self-contained: no network and no external scripts or styles.
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  // At most kReportMaxPoints points per curve.
  const std::regex points(R"re(points="([^"]*)")re");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), points); it != std::sregex_iterator(); ++it)
    EXPECT_LE(count((*it)[1].str(), ","), kReportMaxPoints);
  // 30 grids on disk, 12 shown, first and last among them, each a relative link to an existing file.
  const std::regex img(R"re(<img src="([^"]+)")re");
  std::vector<std::string> srcs;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), img); it != std::sregex_iterator(); ++it)
    srcs.push_back((*it)[1].str());
  ASSERT_EQ(srcs.size(), kReportMaxGrids);
  EXPECT_EQ(srcs.front(), "samples/step_001000.png");
  EXPECT_EQ(srcs.back(), "samples/step_030000.png");
  for (const auto& s : srcs) {
    EXPECT_FALSE(fs::path(s).is_absolute()) << s;
    EXPECT_TRUE(fs::exists(run.path + "/" + s)) << s;
  }
  EXPECT_NE(html.find("possible mode collapse &lt;test&gt;"), std::string::npos);
  EXPECT_NE(html.find("&quot;steps&quot;: 30000"), std::string::npos);  // the config, escaped
  EXPECT_LT(html.size(), 600000u);
}

TEST(ReportTest, FolderWithoutLogIsAnError) {
  TempDir dir("report-empty");
  const std::string message = error_of<RuntimeError>([&] { build_report(dir.path); });
  EXPECT_NE(message.find("no log.jsonl"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir.path + "/report.html"));
}

}  // namespace
