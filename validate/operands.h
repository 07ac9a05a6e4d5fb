// The values a GEMM benchmark multiplies. A tensor core's power draw, and so its clock under the
// power limit, depends on the bits it switches: on an H100 SXM at 700 W the validation chain of
// Qwen2-0.5B's layer GEMMs ran at 750 TFLOP/s and 545 W on zeroed operands and at 621 TFLOP/s,
// held at 700 W with the clock at 1,380-1,395 MHz, on random ones (data/measurements/README.md).
// Training multiplies activations and weights of roughly unit scale, so the NCCL (GPU) backend
// times random operands, never zeros. (The CPU backend, a functional stand-in whose timings only
// close the loop in CI, multiplies ones.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace meshplan::validate {

/// `n` bf16 values (their bit patterns) drawn from N(0, 1) with a fixed seed: the same values on
/// every run and rank for a seed. A bf16 is the upper half of the float's bits.
std::vector<uint16_t> RandomBf16(size_t n, unsigned seed);

}  // namespace meshplan::validate
