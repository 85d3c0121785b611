#include "app/cpus.hpp"

#include <sched.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <thread>

namespace waitline::app {
namespace {

// quota / period rounded up; nothing when there is no limit ("max", -1) or nothing readable.
std::optional<unsigned> limit_of(long long quota, long long period) {
  if (quota <= 0 || period <= 0) return std::nullopt;
  return static_cast<unsigned>((quota + period - 1) / period);
}

std::optional<unsigned> cgroup_limit(const std::string& root) {
  if (std::ifstream v2(root + "/cpu.max"); v2) {
    long long quota = 0, period = 0;
    if (v2 >> quota >> period) return limit_of(quota, period);
    return std::nullopt;  // "max 100000": no limit
  }
  for (const char* dir : {"/cpu", "/cpu,cpuacct"}) {
    std::ifstream quota_file(root + dir + "/cpu.cfs_quota_us");
    std::ifstream period_file(root + dir + "/cpu.cfs_period_us");
    long long quota = 0, period = 0;
    if (quota_file >> quota && period_file >> period) return limit_of(quota, period);
  }
  return std::nullopt;
}

unsigned affinity_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return static_cast<unsigned>(CPU_COUNT(&set));
  return std::thread::hardware_concurrency();
}

}  // namespace

unsigned usable_cpus(unsigned affinity, const std::string& cgroup_root) {
  unsigned cpus = std::max(1u, affinity);
  if (auto limit = cgroup_limit(cgroup_root)) cpus = std::min(cpus, std::max(1u, *limit));
  return cpus;
}

unsigned usable_cpus() { return usable_cpus(affinity_cpus(), "/sys/fs/cgroup"); }

}  // namespace waitline::app
