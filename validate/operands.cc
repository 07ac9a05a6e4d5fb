#include "validate/operands.h"

#include <cstring>
#include <random>

namespace meshplan::validate {

std::vector<uint16_t> RandomBf16(size_t n, unsigned seed) {
  std::vector<uint16_t> out(n);
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (uint16_t& v : out) {
    const float f = normal(gen);
    uint32_t bits = 0;
    std::memcpy(&bits, &f, sizeof bits);
    v = static_cast<uint16_t>(bits >> 16);
  }
  return out;
}

}  // namespace meshplan::validate
