// The worker-thread count when --threads is 0: the affinity mask capped by the cgroup's CPU limit,
// read from cgroup files written here as the kernel shows them (v2 cpu.max, v1 quota and period).
#include "app/cpus.hpp"

#include <gtest/gtest.h>
#include <sched.h>

#include <string>

#include "support/temp_dir.hpp"

namespace {

using waitline::app::usable_cpus;

struct CpusTest : ::testing::Test {
  const waitline::test::TempDir root{"waitline-cpus"};
  void write(const std::string& relative, const std::string& text) { root.write(relative, text); }
  void write_v1(const std::string& dir, const std::string& quota, const std::string& period) {
    write(dir + "/cpu.cfs_quota_us", quota + "\n");
    write(dir + "/cpu.cfs_period_us", period + "\n");
  }
  unsigned cpus(unsigned affinity) { return usable_cpus(affinity, root.path().string()); }
};

TEST_F(CpusTest, WithoutCgroupFilesTheAffinityMaskCounts) {
  EXPECT_EQ(cpus(2), 2u);
  EXPECT_EQ(cpus(0), 1u);  // never no thread at all
}

TEST_F(CpusTest, CgroupV2LimitRoundsUp) {
  write("cpu.max", "100000 100000\n");
  EXPECT_EQ(cpus(2), 1u);
  write("cpu.max", "150000 100000\n");
  EXPECT_EQ(cpus(8), 2u);
  write("cpu.max", "10000 100000\n");  // a tenth of a CPU still runs one thread
  EXPECT_EQ(cpus(2), 1u);
}

TEST_F(CpusTest, ALimitAboveTheAffinityMaskDoesNotAddThreads) {
  write("cpu.max", "400000 100000\n");
  EXPECT_EQ(cpus(2), 2u);
}

TEST_F(CpusTest, CgroupV2WithoutLimitKeepsTheAffinityMask) {
  write("cpu.max", "max 100000\n");
  EXPECT_EQ(cpus(4), 4u);
}

TEST_F(CpusTest, UnreadableCgroupV2LimitIsIgnored) {
  write("cpu.max", "lots 100000\n");
  EXPECT_EQ(cpus(4), 4u);
}

TEST_F(CpusTest, CgroupV1QuotaOverPeriod) {
  write_v1("cpu", "100000", "100000");
  EXPECT_EQ(cpus(2), 1u);
}

TEST_F(CpusTest, CgroupV1UnderCpuCpuacct) {
  write_v1("cpu,cpuacct", "250000", "100000");
  EXPECT_EQ(cpus(8), 3u);
}

TEST_F(CpusTest, CgroupV1WithoutQuotaKeepsTheAffinityMask) {
  write_v1("cpu", "-1", "100000");
  EXPECT_EQ(cpus(2), 2u);
}

TEST(UsableCpus, ThisProcessGetsAtLeastOneAndNoMoreThanItsAffinityMask) {
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  const unsigned n = usable_cpus();
  EXPECT_GE(n, 1u);
  EXPECT_LE(n, static_cast<unsigned>(CPU_COUNT(&set)));
}

}  // namespace
