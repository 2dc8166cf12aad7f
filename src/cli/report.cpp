// `ganpp report RUN_DIR`: rebuilds RUN_DIR/report.html from the run's log, config and sample grids.
#include <filesystem>

#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/report.hpp"

namespace ganpp::cli {
namespace {

struct ReportFlags {
  std::string run_dir;
};

int run_report(const ReportFlags& f) {
  if (!std::filesystem::is_directory(f.run_dir))
    throw RuntimeError("'" + f.run_dir + "' is not a folder; pass a run directory (the --out of 'ganpp train')");
  const std::string path = write_report(f.run_dir);
  spdlog::info("wrote {}", path);
  return 0;
}

}  // namespace

Command add_report(CLI::App& app) {
  auto flags = std::make_shared<ReportFlags>();
  CLI::App* cmd = app.add_subcommand("report", "rebuild RUN_DIR/report.html (curves, health warnings, sample grids)");
  cmd->add_option("run_dir", flags->run_dir, "run directory")->required();
  return {cmd, [flags] { return run_report(*flags); }};
}

}  // namespace ganpp::cli
