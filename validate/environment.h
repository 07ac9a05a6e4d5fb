// File: validate/environment.h
// Where a measurement was taken: host, date, MPI library, and (when the CUDA/NCCL backend is
// built) driver, runtime, NCCL version and the GPUs seen. Recorded in every measurement file so
// a calibration knows where its numbers came from (the `environment` block in DESIGN.md).
#ifndef MESHPLAN_VALIDATE_ENVIRONMENT_H_
#define MESHPLAN_VALIDATE_ENVIRONMENT_H_

#include <string>

namespace meshplan::validate {

/// The environment block as JSON text. REQUIRES: MPI is initialised.
std::string EnvironmentJson();

/// True when this build has the CUDA + NCCL backend.
bool HasNcclBackend();

}  // namespace meshplan::validate

#endif  // MESHPLAN_VALIDATE_ENVIRONMENT_H_
