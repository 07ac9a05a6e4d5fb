// meshplan-validate: the MPI program that runs a plan on real ranks (one per GPU, or MPI ranks
// as "GPUs" on the CPU backend). This build records the environment measurements are taken in;
// plan execution and the microbenchmarks come with the validation backend (issue 7).
#include <mpi.h>

#include <cstdio>
#include <string>

#include "validate/environment.h"

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int rc = 0;
  const std::string arg = argc > 1 ? argv[1] : "";
  if (arg == "--env") {
    if (rank == 0) std::printf("%s\n", meshplan::validate::EnvironmentJson().c_str());
  } else if (arg == "--help" || arg == "-h") {
    if (rank == 0) {
      std::printf("usage: mpirun -np N meshplan-validate --env\n"
                  "  --env   print the environment block (host, date, MPI, CUDA, NCCL, GPUs) as JSON\n");
    }
  } else {
    if (rank == 0) std::fprintf(stderr, "meshplan-validate: unknown argument '%s' (see --help)\n", arg.c_str());
    rc = 2;
  }
  MPI_Finalize();
  return rc;
}
