// How many CPUs this process may use: the worker-thread count when --threads is 0.
//
//   unsigned n = app::usable_cpus();               // this process, read from /proc and /sys
//   unsigned m = app::usable_cpus(8, "/tmp/cg");   // 8 CPUs in the affinity mask, limits under /tmp/cg
//
// The CPUs it may run on (its affinity mask), capped by the CPU limit of its cgroup rounded up:
// a container limited to 1 CPU on a 2-core host gets one thread, not two that would share one
// CPU's quota and hand requests to each other (a futex wake and a context switch each).
// The limit is read where a container sees its own cgroup: cpu.max (cgroup v2), else
// cpu/cpu.cfs_quota_us over cpu.cfs_period_us (cgroup v1, also under cpu,cpuacct/).
#pragma once

#include <string>

namespace waitline::app {

unsigned usable_cpus();
unsigned usable_cpus(unsigned affinity, const std::string& cgroup_root);

}  // namespace waitline::app
