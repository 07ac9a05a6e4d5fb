// File: validate/runner.h
// meshplan-validate's program: read a plan, build the mesh and a backend on every MPI rank,
// check the communicators and their reductions, sweep the plan's collectives on its real groups,
// time its GEMM shapes and bandwidth kernels, run its step as a skeleton, and have rank 0 write
// the measurement file (shared/DESIGN.md "Measurements") atomically after every phase, with
// `complete` false until the last. A watchdog thread per rank ends a run whose operation
// hangs past --timeout-s (ncclCommAbort, MPI_Abort) naming the rank and the operation.
#ifndef MESHPLAN_VALIDATE_RUNNER_H_
#define MESHPLAN_VALIDATE_RUNNER_H_

namespace meshplan::validate {

/// The whole program, MPI_Init to MPI_Finalize; returns the process exit code
/// (0 ok, 2 bad input, 1 runtime failure; a hang or a failure after start-up aborts the job).
int ValidateMain(int argc, char** argv);

}  // namespace meshplan::validate

#endif  // MESHPLAN_VALIDATE_RUNNER_H_
