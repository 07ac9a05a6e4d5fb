// meshplan-validate: the MPI program that runs a plan on real ranks (one per GPU with the NCCL
// backend, or MPI ranks as "GPUs" with the CPU backend) and measures it. See validate/runner.h.
#include "validate/runner.h"

int main(int argc, char** argv) { return meshplan::validate::ValidateMain(argc, argv); }
