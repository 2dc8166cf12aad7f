// `ganpp inspect`: what a checkpoint holds (format, versions, step, architecture, parameter counts, classes,
// EMA, config), for people or, with --json, as one JSON object.
#include <iostream>

#include "commands.hpp"
#include "ganpp/inspect.hpp"

namespace ganpp::cli {
namespace {

struct InspectFlags {
  std::string path;
  bool json = false;
};

std::string join(const Json& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name.get<std::string>();
  return out;
}

void print_human(const Json& info) {
  const auto line = [](const char* label, const std::string& value) {
    std::cout << label << std::string(16 - std::string(label).size(), ' ') << value << "\n";
  };
  const auto str = [&](const char* key) { return info[key].dump(); };
  line("checkpoint", info["path"].get<std::string>());
  line("format", "version " + str("format_version") + ", written by ganpp " + info["ganpp_version"].get<std::string>() +
                     " on LibTorch " + info["libtorch_version"].get<std::string>());
  line("step", str("step"));
  line("data position", "epoch " + str("epoch") + ", batch " + str("batch"));
  line("architecture", info["arch"].get<std::string>() + ", " + str("image_size") + "x" + str("image_size") + "x" +
                           str("channels") + ", z_dim " + str("z_dim") + ", loss " + info["loss"].get<std::string>());
  line("parameters", "generator " + str("g_params") + ", discriminator " + str("d_params"));
  line("classes", info["classes"].empty() ? "none (unlabelled data)"
                                          : std::to_string(info["classes"].size()) + ": " + join(info["classes"]));
  line("EMA weights", info["ema"].get<bool>() ? "yes" : "no");
  std::cout << "config:\n" << info["config"].dump(2) << "\n";
}

int run_inspect(const InspectFlags& f) {
  const Json info = describe_checkpoint(f.path);
  if (f.json)
    std::cout << info.dump(2) << "\n";
  else
    print_human(info);
  return 0;
}

}  // namespace

Command add_inspect(CLI::App& app) {
  auto flags = std::make_shared<InspectFlags>();
  CLI::App* cmd = app.add_subcommand("inspect", "show what a checkpoint holds");
  cmd->add_option("path", flags->path, "checkpoint file, or a run directory (its latest)")->required();
  cmd->add_flag("--json", flags->json, "print one JSON object instead of the human-readable form");
  return {cmd, [flags] { return run_inspect(*flags); }};
}

}  // namespace ganpp::cli
