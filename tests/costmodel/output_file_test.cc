// costmodel/output_file.h: what an output path leads to and how it is written.
#include "costmodel/output_file.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "costmodel/error.h"

namespace meshplan::costmodel {
namespace {
namespace fs = std::filesystem;

class OutputFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("meshplan_out_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string P(const std::string& name) const { return (dir_ / name).string(); }
  static std::string Slurp(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  /// Names in the directory other than `keep` (a temporary left behind shows up here).
  int Others(const std::set<std::string>& keep) const {
    int n = 0;
    for (const auto& e : fs::directory_iterator(dir_)) n += keep.count(e.path().filename().string()) ? 0 : 1;
    return n;
  }
  template <typename Fn>
  static std::string ErrorOf(Fn fn, int exit_code) {
    try {
      fn();
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code(), exit_code) << e.what();
      return e.what();
    }
    ADD_FAILURE() << "no error";
    return "";
  }
  fs::path dir_;
};

TEST_F(OutputFileTest, DevicesAreWrittenThroughNotReplaced) {
  WriteOutputFiles({{"/dev/null", "{}\n", "--json"}});
  struct stat st {};
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(ErrorOf([] { WriteOutputFiles({{"/dev/full", "{}\n", "--json"}}); }, 1),
            "--json: cannot write '/dev/full': No space left on device");
}

TEST_F(OutputFileTest, SymlinkIsFollowedAndStaysALink) {
  std::ofstream(P("real.json")) << "old";
  fs::create_symlink("real.json", P("link.json"));
  WriteOutputFiles({{P("link.json"), "new", "--json"}});
  EXPECT_TRUE(fs::is_symlink(P("link.json")));
  EXPECT_EQ(Slurp(P("real.json")), "new");
  EXPECT_EQ(Others({"real.json", "link.json"}), 0);
  fs::create_symlink("nowhere.json", P("dangling.json"));
  EXPECT_EQ(ErrorOf([&] { WriteOutputFiles({{P("dangling.json"), "x", "--json"}}); }, 2),
            "--json: '" + P("dangling.json") +
                "' is a symbolic link that leads nowhere (No such file or directory): meshplan does not "
                "create a link's target");
  EXPECT_FALSE(fs::exists(P("nowhere.json")));
}

TEST_F(OutputFileTest, FifoWithoutReaderIsRefusedNotWaitedOn) {
  ASSERT_EQ(::mkfifo(P("fifo").c_str(), 0600), 0);
  EXPECT_EQ(ErrorOf([&] { WriteOutputFiles({{P("fifo"), "x", "--trace"}}); }, 1),
            "--trace: FIFO '" + P("fifo") + "' has no reader");
}

TEST_F(OutputFileTest, PlantedFileAtAnOldTemporaryNameIsNotTouched) {
  // The temporary of old was "<out>.tmp.<pid>", opened with truncation and following links.
  std::ofstream(P("victim")) << "precious";
  fs::create_symlink(P("victim"), P("out.json.tmp." + std::to_string(::getpid())));
  WriteOutputFiles({{P("out.json"), "report", "--json"}});
  EXPECT_EQ(Slurp(P("victim")), "precious");
  EXPECT_EQ(Slurp(P("out.json")), "report");
}

TEST_F(OutputFileTest, LongestFileNameIsWritable) {
  const std::string name(255, 'a');
  WriteOutputFiles({{P(name), "x", "--json"}});
  EXPECT_EQ(Slurp(P(name)), "x");
  EXPECT_EQ(ErrorOf([&] { WriteOutputFiles({{P(name + "b"), "x", "--json"}}); }, 2),
            "--json: cannot write '" + P(name + "b") + "': File name too long");
}

TEST_F(OutputFileTest, TwoOutputsOnOneFileAreRefusedByIdentity) {
  std::ofstream(P("x.json")) << "old";
  fs::create_hard_link(P("x.json"), P("y.json"));
  EXPECT_EQ(ErrorOf([&] { WriteOutputFiles({{P("x.json"), "a", "--json"}, {P("y.json"), "b", "--trace"}}); }, 2),
            "--trace: names the same file as --json ('" + P("y.json") + "')");
  EXPECT_EQ(ErrorOf([&] { WriteOutputFiles({{P("new.json"), "a", "--json"}, {P("./new.json"), "b", "--trace"}}); }, 2),
            "--trace: names the same file as --json ('" + P("./new.json") + "')");
  EXPECT_EQ(Slurp(P("x.json")), "old");
  EXPECT_FALSE(fs::exists(P("new.json")));
  EXPECT_TRUE(OutputIsInput(CheckOutputTarget(P("y.json"), "--json"), P("x.json")));
  EXPECT_FALSE(OutputIsInput(CheckOutputTarget(P("new.json"), "--json"), P("x.json")));
}

TEST_F(OutputFileTest, NewFileGetsTheUsualModeAndReplacedFileKeepsItsMode) {
  const mode_t old = ::umask(022);
  WriteOutputFiles({{P("new.json"), "x", "--json"}});
  ::umask(old);
  EXPECT_EQ(fs::status(P("new.json")).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  fs::permissions(P("new.json"), fs::perms::owner_read | fs::perms::owner_write);
  WriteOutputFiles({{P("new.json"), "y", "--json"}});
  EXPECT_EQ(fs::status(P("new.json")).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

// SIGTERM while a command writes: the staged temporary of the regular output is removed and the
// process still dies of the signal. The regular file is staged before the FIFO is written, and
// the FIFO's content is larger than a pipe holds, so once this test has read the first byte the
// child is inside the write, with its temporary on disk.
TEST_F(OutputFileTest, SigtermRemovesTheTemporaries) {
  ASSERT_EQ(::mkfifo(P("fifo").c_str(), 0600), 0);
  // O_RDWR (Linux): a reader that is also a writer, so the read below waits for the child's
  // data instead of seeing end-of-file before the child opens the FIFO.
  const int reader = ::open(P("fifo").c_str(), O_RDWR);
  ASSERT_GE(reader, 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    InstallTemporaryCleanup();
    try {
      WriteOutputFiles({{P("report.json"), "report", "--json"}, {P("fifo"), std::string(1 << 22, 'x'), "--trace"}});
    } catch (...) {
    }
    ::_exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(reader, &c, 1), 1);
  EXPECT_EQ(Others({"fifo"}), 1);  // the temporary
  ::kill(child, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ::close(reader);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
  EXPECT_EQ(Others({"fifo"}), 0);
}

}  // namespace
}  // namespace meshplan::costmodel

namespace meshplan {
namespace {

// Both binaries print errors through OneLineMessage: one line, and an echoed input past 160
// bytes kept as its two ends and its length (not cut inside a UTF-8 character).
TEST(OneLineMessage, EscapesControlsAndClipsLongWords) {
  EXPECT_EQ(OneLineMessage("--plan: a\nb\tc\x01 d"), "--plan: a\\nb\\tc\\x01 d");
  const std::string word(300, 'x');
  EXPECT_EQ(OneLineMessage("--layout: " + word + " is bad"),
            "--layout: " + std::string(60, 'x') + "...(300 bytes)..." + std::string(60, 'x') + " is bad");
  EXPECT_EQ(OneLineMessage(std::string(160, 'y')), std::string(160, 'y'));  // at the limit: whole
  // 59 ASCII bytes then 2-byte characters: the head stops before the character byte 60 is in.
  std::string utf8 = std::string(59, 'a');
  for (int i = 0; i < 60; ++i) utf8 += "\xc3\xa9";  // é
  utf8 += std::string(60, 'b');
  const std::string clipped = OneLineMessage(utf8);
  EXPECT_EQ(clipped.substr(0, clipped.find("...(")), std::string(59, 'a'));
  EXPECT_NE(clipped.find("...(239 bytes)..."), std::string::npos) << clipped;
}

}  // namespace
}  // namespace meshplan
