#include "costmodel/error.h"

namespace meshplan {
namespace {

/// Where a run of `s` may be cut: not inside a UTF-8 character (a continuation byte).
size_t CharBoundary(const std::string& s, size_t i) {
  while (i > 0 && i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

/// A word (a run without spaces) past kMaxWord bytes, which only an echoed input makes (a
/// 5,000-character --layout), keeps its first and last kKeep bytes and says how long it was.
std::string ClipLongWords(const std::string& s) {
  constexpr size_t kMaxWord = 160, kKeep = 60;
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(' ', i);
    if (j == std::string::npos) j = s.size();
    const size_t n = j - i;
    if (n > kMaxWord) {
      const size_t head = CharBoundary(s, i + kKeep), tail = CharBoundary(s, j - kKeep);
      out += s.substr(i, head - i) + "...(" + std::to_string(n) + " bytes)..." + s.substr(tail, j - tail);
    } else {
      out += s.substr(i, n);
    }
    if (j < s.size()) out += ' ';
    i = j + 1;
  }
  return out;
}

}  // namespace

std::string OneLineMessage(const std::string& text) {
  const std::string s = ClipLongWords(text);
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace meshplan
