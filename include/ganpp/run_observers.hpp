// The outputs of a training run, one observer each: health signals, evaluations, log.jsonl, the console and
// progress line, sample grids, report.html and checkpoints.
#pragma once

#include <memory>
#include <vector>

#include "ganpp/config.hpp"
#include "ganpp/training_run.hpp"

namespace ganpp {

/// The observers of every run, in the order they act on a step: health adds its signals and warnings to
/// the log record, the evaluator measures, the log writer appends, the console prints, the sampler writes
/// the grid, the report is rewritten, and the checkpointer writes the step's checkpoint and `latest`.
std::vector<std::unique_ptr<RunObserver>> default_observers(const Config& config);

}  // namespace ganpp
