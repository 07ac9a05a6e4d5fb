// MakeNcclBackend for builds without CUDA and NCCL: a clear error instead of a missing symbol.
#include "costmodel/error.h"
#include "validate/backend.h"

namespace meshplan::validate {

std::unique_ptr<Backend> MakeNcclBackend(const Mesh&, int, int) {
  throw Error("--backend", "nccl: this meshplan-validate was built without CUDA and NCCL "
                           "(rebuild where both are found, or use --backend cpu)");
}

}  // namespace meshplan::validate
