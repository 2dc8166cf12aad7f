// `ganpp export`: the generator of a checkpoint as a file that Python's torch.load reads as a dict
// (rebuild it in PyTorch with scripts/load_generator.py).
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "ganpp/export.hpp"

namespace ganpp::cli {
namespace {

struct ExportFlags {
  std::string checkpoint;
  std::string out;
};

int run_export(const ExportFlags& f) {
  const ExportSummary s = export_generator(f.checkpoint, f.out);
  spdlog::info("wrote {}: {} generator of step {} ({} parameters{}); load it in Python with scripts/load_generator.py",
               f.out, s.arch, s.step, s.parameters, s.ema ? ", EMA weights" : "");
  return 0;
}

}  // namespace

Command add_export(CLI::App& app) {
  auto flags = std::make_shared<ExportFlags>();
  CLI::App* cmd = app.add_subcommand("export", "write the generator as a PyTorch file (torch.load gives a dict)");
  cmd->add_option("--checkpoint", flags->checkpoint, "checkpoint file, or a run directory (its latest)")->required();
  cmd->add_option("--out", flags->out, "the file to write (e.g. generator.pt)")->required();
  return {cmd, [flags] { return run_export(*flags); }};
}

}  // namespace ganpp::cli
