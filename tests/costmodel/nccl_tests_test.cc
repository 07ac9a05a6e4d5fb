// The nccl-tests parser reads every published log in data/nccl-tests exactly (row counts,
// sizes, times, busbw, the rank count inferred from busbw / algbw) and rejects truncated or
// foreign input with a clear error.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "costmodel/error.h"
#include "costmodel/nccl_tests.h"
#include "costmodel/spec_io.h"

namespace meshplan::costmodel {
namespace {
namespace fs = std::filesystem;

const std::string kDir = std::string(MESHPLAN_DATA_DIR) + "/nccl-tests";

TEST(NcclTestsLog, EveryPublishedLogParsesAsItsSidecarDescribes) {
  int files = 0;
  for (const auto& entry : fs::directory_iterator(kDir)) {
    if (entry.path().extension() != ".txt") continue;
    ++files;
    const std::string path = entry.path().string();
    const auto meta = nlohmann::json::parse(ReadFileText(path + ".meta.json", "test"));
    const NcclTestLog log = ParseNcclTestLog(ReadFileText(path, "test"), path);
    const std::string name = entry.path().filename().string();
    EXPECT_EQ(ToString(log.op), meta["collective"].get<std::string>()) << name;
    EXPECT_EQ(static_cast<int64_t>(log.rows.size()), meta["summary"]["sizes_nonzero"].get<int64_t>()) << name;
    EXPECT_EQ(log.rows.front().size_bytes, meta["summary"]["min_size_bytes"].get<int64_t>()) << name;
    EXPECT_EQ(log.rows.back().size_bytes, meta["summary"]["max_size_bytes"].get<int64_t>()) << name;
    if (log.op != NcclTestOp::kSendRecv) {
      EXPECT_EQ(log.ranks, meta["ranks"].get<int64_t>()) << name;
    }
    // The header's nGpus: one process drives all eight GPUs in the -g 8 runs (the sidecars'
    // commands), one GPU per process everywhere else (and where no header was posted).
    const bool g8 = name.find("together") != std::string::npos || name.find("dkhnotes") != std::string::npos ||
                    name.find("zhnotes-g8") != std::string::npos;
    EXPECT_EQ(log.gpus_per_thread, g8 ? 8 : 1) << name;
    // busbw = algbw x factor(n) and algbw = S / t, to print precision.
    for (const auto& r : log.rows) {
      const double alg = static_cast<double>(r.size_bytes) / (r.time_us * 1e3);
      EXPECT_NEAR(r.algbw_GBps, alg, 0.006 + 0.002 * alg) << name << ":" << r.line;
    }
  }
  EXPECT_EQ(files, 23);
}

TEST(NcclTestsLog, TaggedMpirunRowsAreReadExactly) {
  // [1,0]<stdout>: prefixes at the line start and twice inside each row.
  const std::string path = kDir + "/h100-2x8-all_reduce-keitaw-p5efa.txt";
  const NcclTestLog log = ParseNcclTestLog(ReadFileText(path, "t"), path);
  ASSERT_EQ(log.rows.size(), 32u);
  EXPECT_EQ(log.rows[0].size_bytes, 8);
  EXPECT_DOUBLE_EQ(log.rows[0].time_us, 85.70);
  EXPECT_DOUBLE_EQ(log.rows[0].ip_time_us, 74.97);
  EXPECT_EQ(log.ranks, 16);
}

TEST(NcclTestsLog, OldBuildWithoutRootColumnAndStaleHeader) {
  // CoreWeave 2022: no root column, an error column, a header from a 128-GPU run; busbw says 32.
  const std::string path = kDir + "/a100-4x8-all_reduce-coreweave-sharp.txt";
  const NcclTestLog log = ParseNcclTestLog(ReadFileText(path, "t"), path);
  EXPECT_EQ(log.ranks, 32);
  EXPECT_DOUBLE_EQ(log.rows[0].time_us, 58.23);
  EXPECT_DOUBLE_EQ(log.rows[0].ip_time_us, 56.02);
}

std::string ErrorOf(const std::string& text, const std::string& origin) {
  try {
    ParseNcclTestLog(text, origin);
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(NcclTestsLog, RejectsTruncatedAndForeignInput) {
  const std::string header =
      "#       size         count      type   redop    root     time   algbw   busbw #wrong     "
      "time   algbw   busbw #wrong\n";
  EXPECT_EQ(ErrorOf(header + "           8             2     float     sum      -1    36.0    0.00\n",
                    "all_reduce.log"),
            "all_reduce.log:2: truncated row: expected 13 columns, got 7");
  EXPECT_EQ(ErrorOf(header, "all_reduce.log"), "all_reduce.log: no data rows after the column header (truncated log?)");
  EXPECT_EQ(ErrorOf("hello world\nthis is not a log\n", "all_gather.txt"),
            "all_gather.txt: no nccl-tests performance table found");
  EXPECT_EQ(ErrorOf(header + "8 2 float sum -1 36.0 0.00 0.00 0 35.0 0.00 0.00 0\n", "mystery.txt"),
            "mystery.txt: cannot tell the collective: no 'Collective test starting' line and the file "
            "name names none of all_reduce, all_gather, reduce_scatter, alltoall, sendrecv");
  EXPECT_EQ(ErrorOf("8 2 float sum -1 36.0 0.00 0.00 0 35.0 0.00 0.00 0\n", "all_reduce.txt"),
            "all_reduce.txt:1: data row before the nccl-tests column header: not an nccl-tests log");
  EXPECT_EQ(ErrorOf("# nThread 1 nGpus eight minBytes 8\n" + header, "all_reduce.txt"),
            "all_reduce.txt:1: header: nGpus must be followed by a GPU count (1 to 65536), got 'eight'");
  EXPECT_EQ(ErrorOf("# nThread 1 nGpus 0 minBytes 8\n" + header, "all_reduce.txt"),
            "all_reduce.txt:1: header: nGpus must be followed by a GPU count (1 to 65536), got '0'");
}

// Numbers in a log are decimal: strtod would read 0x10 as 16 us and accept inf; and finite but
// absurd values (which overflow the fit later) are errors naming the file and line.
TEST(NcclTestsLog, NonDecimalAndAbsurdValuesAreErrorsNamingTheLine) {
  const std::string header =
      "#       size         count      type   redop    root     time   algbw   busbw #wrong     "
      "time   algbw   busbw #wrong\n";
  auto row = [](const std::string& time, const std::string& bw) {
    return "       1024           256     float     sum      -1   " + time + "   " + bw +
           "    0.10      0    10.00    0.10    0.10      0\n";
  };
  EXPECT_EQ(ErrorOf(header + row("0x10", "0.10"), "all_reduce.log"),
            "all_reduce.log:2: row's out-of-place time '0x10' is not a decimal number above 0");
  EXPECT_EQ(ErrorOf(header + row("inf", "0.10"), "all_reduce.log"),
            "all_reduce.log:2: row's out-of-place time 'inf' is not a decimal number above 0");
  EXPECT_EQ(ErrorOf(header + row("10.00", "-0.10"), "all_reduce.log"),
            "all_reduce.log:2: row's out-of-place algbw '-0.10' is not a decimal number above 0");
  EXPECT_EQ(ErrorOf(header + row("1e-310", "0.10"), "all_reduce.log"),
            "all_reduce.log:2: row has an out-of-place time of 1e-310 us, outside [0.001, 1e12] us");
  EXPECT_EQ(ErrorOf(header + row("10.00", "1e308"), "all_reduce.log"),
            "all_reduce.log:2: row has a bandwidth outside [0, 1e6] GB/s");
  EXPECT_NO_THROW(ParseNcclTestLog(header + row("10.00", "0.10"), "all_reduce.log"));
}

// A 64 MiB log of 550k rows took minutes to calibrate on and 2 GB to score: rows are bounded.
TEST(NcclTestsLog, MoreRowsThanAnyRealRunIsAnErrorAtTheLine) {
  std::string text =
      "#       size         count      type   redop    root     time   algbw   busbw #wrong     "
      "time   algbw   busbw #wrong\n";
  // Sizes grow row by row (one run per file).
  auto row = [](int64_t i) {
    return "       " + std::to_string(1024 + 4 * i) + "           256     float     sum      -1    10.00    0.10    0.10      0    "
           "10.00    0.10    0.10      0\n";
  };
  for (int64_t i = 0; i < kMaxNcclTestRows; ++i) text += row(i);
  EXPECT_EQ(ParseNcclTestLog(text, "all_reduce.log").rows.size(), static_cast<size_t>(kMaxNcclTestRows));
  text += row(kMaxNcclTestRows);
  EXPECT_EQ(ErrorOf(text, "all_reduce.log"),
            "all_reduce.log:20002: more than 20000 data rows: not one nccl-tests run (a real log has tens)");
}

// Rows that were dropped or scored silently (a fuzzing pass): a size beyond 2^63, a run whose
// check found wrong results, a size repeated or out of order; the listed ranks bound a sidecar's.
TEST(NcclTestsLog, RowsThatCannotBeAValidRunAreErrorsAtTheLine) {
  const std::string head =
      "#  Rank  0 Group  0 Pid 1 on host device  0 [0x1] NVIDIA H100\n"
      "#  Rank  7 Group  0 Pid 1 on host device  7 [0x1] NVIDIA H100\n"
      "#       size         count      type   redop    root     time   algbw   busbw #wrong     "
      "time   algbw   busbw #wrong\n";
  const std::string ok1 = "       1024           256     float     sum      -1    10.00    0.10    0.10      0    10.00    0.10    0.10      0\n";
  const std::string ok2 = "       2048           512     float     sum      -1    10.00    0.20    0.20    N/A    10.00    0.20    0.20    N/A\n";
  EXPECT_EQ(ParseNcclTestLog(head + ok1 + ok2, "all_reduce.log").rows.size(), 2u);
  EXPECT_EQ(ParseNcclTestLog(head + ok1 + ok2, "all_reduce.log").listed_ranks, 8);
  EXPECT_EQ(ErrorOf(head + ok1 + "99999999999999999999999 512 float sum -1 10.00 0.20 0.20 0 10.00 0.20 0.20 0\n",
                    "all_reduce.log"),
            "all_reduce.log:5: row has a size or count beyond 2^63");
  EXPECT_EQ(ErrorOf(head + "1024 256 float sum -1 10.00 0.10 0.10 3 10.00 0.10 0.10 0\n", "all_reduce.log"),
            "all_reduce.log:4: row reports 3 wrong results (#wrong): the run was not correct, so its times are not scored");
  EXPECT_EQ(ErrorOf(head + ok2 + ok1, "all_reduce.log"),
            "all_reduce.log:5: row of 1024 bytes after one of 2048 (line 4): sizes must grow, one nccl-tests run per file");
  EXPECT_EQ(ErrorOf(head + ok1 + ok1, "all_reduce.log"),
            "all_reduce.log:5: row of 1024 bytes after one of 1024 (line 4): sizes must grow, one nccl-tests run per file");
  // A data row (a type name in its third column) whose size or count is no decimal integer was
  // left out; a #wrong that is no count nccl-tests prints (nan, 1.5, -1, 0x1) passed as 0; an
  // in-place time out of range was reported with the out-of-place one's value.
  for (const std::string& bad : {std::string("0x800"), std::string("-1"), std::string("2.048e3")}) {
    EXPECT_EQ(ErrorOf(head + ok1 + bad + " 512 float sum -1 10.00 0.20 0.20 0 10.00 0.20 0.20 0\n", "all_reduce.log"),
              "all_reduce.log:5: row's size '" + bad + "' and count '512' must be decimal integers");
  }
  EXPECT_EQ(ErrorOf(head + "1024 nan bfloat16 sum -1 10.00 0.10 0.10 0 10.00 0.10 0.10 0\n", "all_reduce.log"),
            "all_reduce.log:4: row's size '1024' and count 'nan' must be decimal integers");
  EXPECT_EQ(ErrorOf(head + "1024 256 float sum -1 10.00 0.10 0.10 0 10.00 0.10 0.10 1e308\n", "all_reduce.log"),
            "all_reduce.log:4: row reports 1e308 wrong results (#wrong): the run was not correct, so its times are not scored");
  // Old builds print #wrong as %5.0e: 0e+00 is none.
  EXPECT_EQ(ParseNcclTestLog(head + "1024 256 float sum -1 10.00 0.10 0.10 0e+00 10.00 0.10 0.10 0e+00\n",
                             "all_reduce.log").rows.size(), 1u);
  for (const std::string& bad : {std::string("nan"), std::string("1.5"), std::string("-1"), std::string("0x1")}) {
    EXPECT_EQ(ErrorOf(head + "1024 256 float sum -1 10.00 0.10 0.10 0 10.00 0.10 0.10 " + bad + "\n", "all_reduce.log"),
              "all_reduce.log:4: row's #wrong column is '" + bad + "': expected 0, N/A or a count of wrong results");
  }
  EXPECT_EQ(ErrorOf(head + "1024 256 float sum -1 10.00 0.10 0.10 0 1e308 0.10 0.10 0\n", "all_reduce.log"),
            "all_reduce.log:4: row has an in-place time of 1e308 us, outside [0.001, 1e12] us");
  EXPECT_EQ(ErrorOf(head + "1024 256 float sum -1 10.00 abc 0.10 0 10.00 0.10 0.10 0\n", "all_reduce.log"),
            "all_reduce.log:4: row's out-of-place algbw 'abc' is not a decimal number above 0");
}

TEST(NcclTestsLog, CollectiveFromNameAndFromTheHeaderLine) {
  EXPECT_EQ(NcclTestOpFromName("alltoall"), NcclTestOp::kAllToAll);
  EXPECT_EQ(NcclTestOpFromName("sendrecv_perf"), NcclTestOp::kSendRecv);
  EXPECT_EQ(NcclTestOpFromName("all_reduce"), NcclTestOp::kAllReduce);
  EXPECT_EQ(NcclTestOpFromName("allreduce"), std::nullopt);
  EXPECT_EQ(NcclTestOpFromHeader("# nccl-tests\n# Collective test starting: alltoall_perf\n#\n"), NcclTestOp::kAllToAll);
  EXPECT_EQ(NcclTestOpFromHeader("# nThread 1 nGpus 1\n"), std::nullopt);
  // A header-less table takes the caller's collective.
  const std::string table =
      "#       size         count      type   redop    root     time   algbw   busbw  #wrong     time   algbw   busbw  #wrong\n"
      "    33554432        524288    double    none      -1   124.79  268.89  235.28       0   123.64  271.39  237.47    N/A\n";
  EXPECT_THROW(ParseNcclTestLog(table, "x.txt"), Error);
  const NcclTestLog log = ParseNcclTestLog(table, "x.txt", NcclTestOp::kAllToAll);
  EXPECT_EQ(log.op, NcclTestOp::kAllToAll);
  EXPECT_EQ(log.ranks, 8);  // busbw / algbw = 7/8
}

}  // namespace
}  // namespace meshplan::costmodel
