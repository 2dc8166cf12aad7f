// The subcommands: each registers its flags on the app and returns the function that runs it.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace ganpp::cli {

/// A registered subcommand and the function that runs it once its flags are parsed.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};

Command add_train(CLI::App& app);
Command add_sample(CLI::App& app);
Command add_interpolate(CLI::App& app);
Command add_bench(CLI::App& app);
Command add_inspect(CLI::App& app);
Command add_export(CLI::App& app);
Command add_report(CLI::App& app);
Command add_eval(CLI::App& app);
Command add_classifier(CLI::App& app);
Command add_data(CLI::App& app);

}  // namespace ganpp::cli
