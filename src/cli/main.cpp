// ganpp's entry point: parses the subcommand, runs it, and turns errors into one message and an exit
// code (2: bad invocation or config, 1: anything else).
#include <iostream>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "commands.hpp"
#include "common.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/version.hpp"

namespace {

// What each command can lower when memory runs out.
std::string out_of_memory_message(const std::string& command) {
  std::string hint = "lower what sets the amount of work";
  if (command == "train")
    hint = "lower train.batch_size, model.g.ngf / model.d.ndf or the image size (data.image_size)";
  else if (command == "sample")
    hint = "lower --n (with --per-class: --nrow)";
  else if (command == "interpolate")
    hint = "lower --rows, --points or --steps";
  else if (command == "eval")
    hint = "lower --n";
  else if (command == "classifier")
    hint = "lower train.batch_size, model.widths or the image size (data.image_size)";
  else if (command == "bench")
    hint = "choose a smaller --workload";
  return "out of memory: " + hint;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ganpp;
  CLI::App app{"ganpp: train generative adversarial networks with LibTorch, and sample from them"};
  app.require_subcommand(1);
  app.fallthrough();
  bool verbose = false;
  app.add_flag("--verbose", verbose, "show full LibTorch errors (with backtraces)");
  app.set_version_flag("--version", "ganpp " + ganpp_version() + " (LibTorch " + libtorch_version() + ")");
  const cli::Command commands[] = {cli::add_train(app),  cli::add_sample(app),  cli::add_interpolate(app),
                                   cli::add_bench(app),  cli::add_inspect(app), cli::add_export(app),
                                   cli::add_report(app), cli::add_eval(app),    cli::add_classifier(app),
                                   cli::add_data(app)};
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
      // Out of memory: what to lower, in place of the allocator's words (--verbose adds them).
      std::string message = verbose ? std::string(e.what()) : first_line(e.what_without_backtrace());
      if (is_out_of_memory(e)) message = out_of_memory_message(name) + (verbose ? "\n" + message : "");
      std::cerr << "ganpp " << name << ": error: " << message << "\n";
      return 1;
    } catch (const std::exception& e) {
      std::cerr << "ganpp " << name << ": error: " << (is_out_of_memory(e) ? out_of_memory_message(name) : e.what())
                << "\n";
      return 1;
    }
  }
  return 2;
}
