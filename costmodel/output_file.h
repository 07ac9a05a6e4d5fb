// File: costmodel/output_file.h
// How meshplan and meshplan-validate write their output files. One function decides, before any
// work, where each output goes, and one writes them, all or none:
//  - a regular file (or a new name) is replaced atomically: a temporary created with mkstemp
//    (O_EXCL, never following a planted link) in the target's own directory, fsync'ed, renamed
//    over the target; the temporary is unlinked on failure and on SIGINT / SIGTERM;
//  - a symbolic link is followed: the file it resolves to is replaced (the link stays a link);
//    a link that resolves to nothing is refused;
//  - a character device or a FIFO (/dev/null, /dev/stdout, a named pipe with a reader) is
//    written through, never replaced; a FIFO without a reader is refused rather than waited on;
//  - directories, sockets and block devices are refused.
// Failures carry the OS's reason (strerror). Errors name the flag.
#ifndef MESHPLAN_COSTMODEL_OUTPUT_FILE_H_
#define MESHPLAN_COSTMODEL_OUTPUT_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace meshplan::costmodel {

/// Where an output path leads (CheckOutputTarget).
struct OutputTarget {
  std::string flag;
  std::string path;       // as given
  std::string resolved;   // the file to replace (symlinks followed), or `path` when written through
  bool write_through = false;  // character device or FIFO
  bool exists = false;
  // Identity: of the existing file, or of the directory that will hold the new one.
  uint64_t dev = 0, ino = 0;
  std::string new_name;  // for a file that does not exist yet: its name in that directory
};

/// Classifies `path` as an output of `flag` and checks its directory is writable. Throws a user
/// Error (exit 2) naming the flag for an empty path, a missing or unwritable directory, a
/// dangling link, a directory, a socket or a block device.
OutputTarget CheckOutputTarget(const std::string& path, const std::string& flag);

/// True when `a` and `b` would end up in the same file (by identity, not by name). Two
/// write-through targets never conflict (two flags may both say /dev/null).
bool SameOutput(const OutputTarget& a, const OutputTarget& b);

/// True when the output would overwrite the existing file `input_path` (by identity).
bool OutputIsInput(const OutputTarget& out, const std::string& input_path);

struct OutputFile {
  std::string path, content, flag;
};

/// All or nothing: checks every target, refuses two outputs on one file, writes every regular
/// file to a temporary, writes devices and FIFOs through, then renames the temporaries into
/// place. On failure the temporaries are removed; a failing device write is a runtime Error.
void WriteOutputFiles(const std::vector<OutputFile>& files);

/// Installs SIGINT and SIGTERM handlers that unlink the live temporaries, then die of the
/// signal as before. Idempotent.
void InstallTemporaryCleanup();

/// "<strerror(err)>" for messages.
std::string OsReason(int err);

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_OUTPUT_FILE_H_
