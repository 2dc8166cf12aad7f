// Test-only fault injection (see fault.hpp).
#include "ganpp/fault.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <thread>

namespace ganpp {
namespace {

struct FaultSpec {
  bool active = false;
  bool stall = false;
  std::string prefix;
  int64_t step = 0;
};

const FaultSpec& spec() {
  static const FaultSpec parsed = [] {
    FaultSpec s;
    const char* env = std::getenv("GANPP_FAULT");
    if (!env || !*env) return s;
    // Distributed runs: GANPP_FAULT_RANK limits the fault to one rank, and a job that torchrun restarted runs
    // without it (the restart is what the fault tests).
    const char* rank = std::getenv("GANPP_FAULT_RANK");
    if (rank && *rank && std::string(rank) != (std::getenv("RANK") ? std::getenv("RANK") : "0")) return s;
    const char* restart = std::getenv("TORCHELASTIC_RESTART_COUNT");
    if (restart && std::atoll(restart) > 0) return s;
    s.active = true;
    s.prefix = env;
    if (s.prefix.rfind("stall:", 0) == 0) {
      s.stall = true;
      s.prefix.erase(0, 6);
    }
    const auto at = s.prefix.rfind('@');
    if (at != std::string::npos) {
      s.step = std::atoll(s.prefix.c_str() + at + 1);
      s.prefix.resize(at);
    }
    return s;
  }();
  return parsed;
}

int64_t g_step = 0;

}  // namespace

void set_fault_step(int64_t step) { g_step = step; }

void fault_point(const std::string& point) {
  const FaultSpec& s = spec();
  if (!s.active || g_step < s.step || point.compare(0, s.prefix.size(), s.prefix) != 0) return;
  if (!s.stall) std::raise(SIGKILL);
  static bool stalled = false;
  if (!stalled) std::this_thread::sleep_for(std::chrono::seconds(5));
  stalled = true;
}

}  // namespace ganpp
