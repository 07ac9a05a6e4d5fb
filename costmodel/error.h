// File: costmodel/error.h
// One error type for the whole of meshplan (leveldb Status / abseil StatusOr in spirit): an
// Error carries a *place* ("cluster.json: node.gpus_per_node") and a *reason* ("must be >= 1,
// got 0") and whether it is the user's fault (bad input: exit 2) or a runtime failure (exit 1).
// Broken internal invariants are not Errors: MESHPLAN_CHECK aborts with file:line.
#ifndef MESHPLAN_COSTMODEL_ERROR_H_
#define MESHPLAN_COSTMODEL_ERROR_H_

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace meshplan {

enum class ErrorKind { kUserInput, kRuntime };

class Error : public std::runtime_error {
 public:
  Error(std::string place, std::string reason, ErrorKind kind = ErrorKind::kUserInput)
      : std::runtime_error(place.empty() ? reason : place + ": " + reason),
        place_(std::move(place)),
        reason_(std::move(reason)),
        kind_(kind) {}
  const std::string& place() const { return place_; }
  const std::string& reason() const { return reason_; }
  ErrorKind kind() const { return kind_; }
  /// Exit code for main(): 2 for bad input, 1 for a runtime failure.
  int exit_code() const { return kind_ == ErrorKind::kUserInput ? 2 : 1; }

 private:
  std::string place_;
  std::string reason_;
  ErrorKind kind_;
};

/// An error message as one short line: control characters (a newline in a file name) escaped,
/// and a word (a run without spaces) past 160 bytes, which only an echoed input makes (a
/// 5,000-character --layout), kept as its first and last 60 bytes with its length. Both
/// binaries (meshplan, meshplan-validate) print errors through it.
std::string OneLineMessage(const std::string& text);

}  // namespace meshplan

// Internal invariant: a failure here is a meshplan bug, never bad input.
#define MESHPLAN_CHECK(cond)                                                        \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: internal check failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                          \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

#endif  // MESHPLAN_COSTMODEL_ERROR_H_
