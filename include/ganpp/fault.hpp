// Test-only fault injection: kills the process at a named point, so that the suite can check that a run killed
// anywhere resumes exactly. Inactive unless the environment variable GANPP_FAULT is set; never set it otherwise.
#pragma once

#include <cstdint>
#include <string>

namespace ganpp {

/// The training step the process is at (set by the training loop; fault points before it are inert).
void set_fault_step(int64_t step);

/// With GANPP_FAULT="<prefix>@<step>" (or "<prefix>", step 0), the process kills itself with SIGKILL the first
/// time it reaches a point whose name starts with <prefix> at training step >= <step>. Points: "write:<file
/// name>" halfway through an atomic write, "append:log.jsonl" halfway through a log line, "between:checkpoint-
/// latest" after a step's checkpoint file and before latest.ckpt, "step" after each training step, "prepare:<file
/// name>" after each block a prepared dataset's writer wrote. With GANPP_FAULT="stall:<prefix>@<step>" the process
/// sleeps 5 s there instead (once), so that the suite can signal it at that point. In distributed runs,
/// GANPP_FAULT_RANK=R limits the fault to rank R, and a job restarted by torchrun has no fault.
void fault_point(const std::string& point);

}  // namespace ganpp
