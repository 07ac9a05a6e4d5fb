#include "costmodel/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <system_error>

#include "costmodel/error.h"

namespace meshplan::costmodel {

std::string OsReason(int err) { return std::error_code(err, std::generic_category()).message(); }

namespace {

// Live temporaries, for the signal handler: it may only read these and call unlink(2), which is
// async-signal-safe. A slot's path is complete before `live` is set, and `live` is cleared
// before the slot is reused.
constexpr int kSlots = 64;
struct Slot {
  volatile std::sig_atomic_t live = 0;
  char path[PATH_MAX + 32] = {0};
};
Slot g_slots[kSlots];
std::mutex g_slots_mu;  // taking and releasing slots (never touched by the handler)

extern "C" void CleanupAndReraise(int sig) {
  for (Slot& s : g_slots) {
    if (s.live) ::unlink(s.path);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

/// A temporary file created with mkstemp in `dir`, unlinked when released unless renamed.
class Temporary {
 public:
  Temporary(const std::string& dir, const std::string& flag) {
    const std::string templ = (dir.empty() ? std::string(".") : dir) + "/.meshplan-XXXXXX";
    if (templ.size() >= sizeof(Slot::path)) {
      throw Error(flag, "directory name too long: '" + dir + "'", ErrorKind::kRuntime);
    }
    {
      std::lock_guard<std::mutex> lock(g_slots_mu);
      for (int i = 0; i < kSlots; ++i) {
        if (!g_slots[i].live) {
          slot_ = i;
          break;
        }
      }
      if (slot_ < 0) throw Error(flag, "too many output files at once", ErrorKind::kRuntime);
      Slot& s = g_slots[slot_];
      std::memcpy(s.path, templ.c_str(), templ.size() + 1);
      std::atomic_signal_fence(std::memory_order_seq_cst);
      // Live before mkstemp fills in the name: a signal in between unlinks a name that does
      // not exist (harmless); after, it unlinks the new file.
      s.live = 1;
      fd_ = ::mkstemp(s.path);
      if (fd_ < 0) {
        const int err = errno;
        s.live = 0;
        slot_ = -1;
        throw Error(flag, "cannot create a temporary file in '" + (dir.empty() ? "." : dir) + "': " + OsReason(err),
                    ErrorKind::kRuntime);
      }
      path_ = s.path;
    }
  }
  Temporary(const Temporary&) = delete;
  Temporary& operator=(const Temporary&) = delete;
  ~Temporary() {
    if (fd_ >= 0) ::close(fd_);
    if (slot_ >= 0) {
      ::unlink(path_.c_str());
      Release();
    }
  }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  /// Closes the descriptor; false (errno set) when the close reports a write error.
  bool Close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }
  /// The file was renamed into place: nothing to clean up any more.
  void Committed() { Release(); }

 private:
  void Release() {
    std::lock_guard<std::mutex> lock(g_slots_mu);
    g_slots[slot_].live = 0;
    slot_ = -1;
  }
  int slot_ = -1;
  int fd_ = -1;
  std::string path_;
};

/// Writes all of `data`; false with errno set on failure.
bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

mode_t Umask() {
  static const mode_t mask = [] {
    const mode_t m = ::umask(0);
    ::umask(m);
    return m;
  }();
  return mask;
}

std::string DirOf(const std::string& path) {
  const std::string d = std::filesystem::path(path).parent_path().string();
  return d.empty() ? "." : d;
}

bool SameAsStdStream(const struct stat& st) {
  for (int fd : {STDOUT_FILENO, STDERR_FILENO}) {
    struct stat s {};
    if (::fstat(fd, &s) == 0 && s.st_dev == st.st_dev && s.st_ino == st.st_ino) return true;
  }
  return false;
}

}  // namespace

OutputTarget CheckOutputTarget(const std::string& path, const std::string& flag) {
  if (path.empty()) throw Error(flag, "must name a file, got ''");
  OutputTarget t;
  t.flag = flag;
  t.path = path;
  t.resolved = path;
  struct stat lst {};
  if (::lstat(path.c_str(), &lst) != 0) {
    const int err = errno;
    if (err != ENOENT) throw Error(flag, "cannot write '" + path + "': " + OsReason(err));
    const std::string dir = DirOf(path);
    struct stat dst {};
    if (::stat(dir.c_str(), &dst) != 0) {
      throw Error(flag, "directory '" + dir + "' does not exist");
    }
    if (!S_ISDIR(dst.st_mode)) throw Error(flag, "'" + dir + "' is not a directory");
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
      throw Error(flag, "cannot write in directory '" + dir + "': " + OsReason(errno));
    }
    const std::string name = std::filesystem::path(path).filename().string();
    const long name_max = ::pathconf(dir.c_str(), _PC_NAME_MAX);
    if (name_max > 0 && name.size() > static_cast<size_t>(name_max)) {
      throw Error(flag, "cannot write '" + path + "': " + OsReason(ENAMETOOLONG));
    }
    t.dev = dst.st_dev;
    t.ino = dst.st_ino;
    t.new_name = name;
    return t;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw Error(flag, "'" + path + "' is a symbolic link that leads nowhere (" + OsReason(errno) +
                          "): meshplan does not create a link's target");
  }
  t.exists = true;
  t.dev = st.st_dev;
  t.ino = st.st_ino;
  if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) {
    t.write_through = true;  // /dev/null, /dev/stdout on a terminal or pipe, a named pipe
    return t;
  }
  if (S_ISDIR(st.st_mode)) throw Error(flag, "'" + path + "' is a directory, not a file");
  if (!S_ISREG(st.st_mode)) {
    throw Error(flag, "'" + path + "' is a " + (S_ISBLK(st.st_mode) ? "block device" : "socket") +
                          ": meshplan writes regular files, character devices and FIFOs only");
  }
  if (SameAsStdStream(st)) {
    // `--json /dev/stdout > out.txt`: the shell holds the file open; append, do not replace it.
    t.write_through = true;
    return t;
  }
  if (S_ISLNK(lst.st_mode)) {
    char buf[PATH_MAX];
    if (::realpath(path.c_str(), buf) == nullptr) {
      throw Error(flag, "cannot resolve the link '" + path + "': " + OsReason(errno));
    }
    t.resolved = buf;
  }
  const std::string dir = DirOf(t.resolved);
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    throw Error(flag, "cannot write in directory '" + dir + "': " + OsReason(errno));
  }
  return t;
}

bool SameOutput(const OutputTarget& a, const OutputTarget& b) {
  if (a.write_through || b.write_through) return false;
  if (a.exists != b.exists) return false;
  return a.dev == b.dev && a.ino == b.ino && a.new_name == b.new_name;
}

bool OutputIsInput(const OutputTarget& out, const std::string& input_path) {
  if (!out.exists || out.write_through) return false;
  struct stat st {};
  if (input_path.empty() || ::stat(input_path.c_str(), &st) != 0 || S_ISDIR(st.st_mode)) return false;
  return st.st_dev == out.dev && st.st_ino == out.ino;
}

void InstallTemporaryCleanup() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (int sig : {SIGINT, SIGTERM}) {
      struct sigaction old {};
      ::sigaction(sig, nullptr, &old);
      if (old.sa_handler == SIG_IGN) continue;  // nohup-style: keep ignoring
      struct sigaction sa {};
      sa.sa_handler = CleanupAndReraise;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESETHAND;
      ::sigaction(sig, &sa, nullptr);
    }
  });
}

void WriteOutputFiles(const std::vector<OutputFile>& files) {
  std::vector<OutputTarget> targets;
  for (const auto& f : files) {
    targets.push_back(CheckOutputTarget(f.path, f.flag));
    for (size_t i = 0; i + 1 < targets.size(); ++i) {
      if (SameOutput(targets[i], targets.back())) {
        throw Error(f.flag, "names the same file as " + targets[i].flag + " ('" + f.path + "')");
      }
    }
  }
  InstallTemporaryCleanup();
  // Stage every regular file first, so a failure on the second leaves not even the first.
  std::vector<std::unique_ptr<Temporary>> tmps(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    const OutputTarget& t = targets[i];
    if (t.write_through) continue;
    tmps[i] = std::make_unique<Temporary>(DirOf(t.resolved), t.flag);
    Temporary& tmp = *tmps[i];
    struct stat st {};
    const mode_t mode = t.exists && ::stat(t.resolved.c_str(), &st) == 0 ? (st.st_mode & 07777)
                                                                         : (0666 & ~Umask());
    if (!WriteAll(tmp.fd(), files[i].content) || ::fchmod(tmp.fd(), mode) != 0 ||
        ::fsync(tmp.fd()) != 0 || !tmp.Close()) {
      throw Error(t.flag, "cannot write '" + files[i].path + "': " + OsReason(errno), ErrorKind::kRuntime);
    }
  }
  for (size_t i = 0; i < files.size(); ++i) {
    const OutputTarget& t = targets[i];
    if (!t.write_through) continue;
    // O_NONBLOCK: a FIFO nobody reads is an error now, not a hang; no O_CREAT, no O_TRUNC.
    const int fd = ::open(t.path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_APPEND);
    if (fd < 0) {
      const int err = errno;
      throw Error(t.flag, err == ENXIO ? "FIFO '" + t.path + "' has no reader"
                                       : "cannot write '" + t.path + "': " + OsReason(err),
                  ErrorKind::kRuntime);
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if (t.path == "/dev/stdout" || SameAsStdStream([&] {
          struct stat s {};
          ::fstat(fd, &s);
          return s;
        }())) {
      std::fflush(stdout);  // keep the order of what the command printed before
    }
    const bool ok = WriteAll(fd, files[i].content);
    const int err = errno;
    if (::close(fd) != 0 || !ok) {
      throw Error(t.flag, "cannot write '" + t.path + "': " + OsReason(ok ? errno : err), ErrorKind::kRuntime);
    }
  }
  for (size_t i = 0; i < files.size(); ++i) {
    if (!tmps[i]) continue;
    if (::rename(tmps[i]->path().c_str(), targets[i].resolved.c_str()) != 0) {
      throw Error(targets[i].flag, "cannot rename into '" + files[i].path + "': " + OsReason(errno),
                  ErrorKind::kRuntime);
    }
    tmps[i]->Committed();
  }
}

}  // namespace meshplan::costmodel
