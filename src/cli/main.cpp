// ganpp's entry point: parses the subcommand, runs it, and turns errors into one message and an exit
// code (2: bad invocation or config, 1: anything else).
#include <iostream>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "commands.hpp"
#include "common.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/version.hpp"

int main(int argc, char** argv) {
  using namespace ganpp;
  CLI::App app{"ganpp: train generative adversarial networks with LibTorch, and sample from them"};
  app.require_subcommand(1);
  app.fallthrough();
  bool verbose = false;
  app.add_flag("--verbose", verbose, "show full LibTorch errors (with backtraces)");
  app.set_version_flag("--version", "ganpp " + ganpp_version() + " (LibTorch " + libtorch_version() + ")");
  const cli::Command commands[] = {cli::add_train(app),  cli::add_sample(app),    cli::add_interpolate(app),
                                   cli::add_bench(app),  cli::add_inspect(app),   cli::add_export(app),
                                   cli::add_report(app),

                                   cli::add_eval(app),   cli::add_classifier(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;  // CLI11's own codes are all usage errors
  }
  cli::setup_logging();
  for (const auto& command : commands) {
    if (!command.app->parsed()) continue;
    const std::string name = command.app->get_name();
    try {
      return command.run();
    } catch (const Error& e) {
      std::cerr << "ganpp " << name << ": error: " << e.what() << "\n";
      return e.exit_code();
    } catch (const c10::Error& e) {
      std::cerr << "ganpp " << name
                << ": error: " << (verbose ? std::string(e.what()) : first_line(e.what_without_backtrace())) << "\n";
      return 1;
    } catch (const std::exception& e) {
      std::cerr << "ganpp " << name << ": error: " << e.what() << "\n";
      return 1;
    }
  }
  return 2;
}
