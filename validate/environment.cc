#include "validate/environment.h"

#include <mpi.h>
#include <unistd.h>

#include <ctime>

#include <nlohmann/json.hpp>

#ifdef MESHPLAN_HAVE_NCCL
#include <cuda_runtime_api.h>
#include <nccl.h>
#endif

namespace meshplan::validate {

bool HasNcclBackend() {
#ifdef MESHPLAN_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

std::string EnvironmentJson() {
  nlohmann::json env;
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  env["hostname"] = host;
  std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  env["date"] = date;
  char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(mpi, &len);
  std::string mpi_version(mpi, static_cast<size_t>(len));
  while (!mpi_version.empty() && (mpi_version.back() == '\n' || mpi_version.back() == '\0')) {
    mpi_version.pop_back();
  }
  env["mpi"] = mpi_version;
  int ranks = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  env["ranks"] = ranks;
  env["backends"] = HasNcclBackend() ? nlohmann::json::array({"cpu", "nccl"}) : nlohmann::json::array({"cpu"});
#ifdef MESHPLAN_HAVE_NCCL
  int driver = 0, runtime = 0, nccl = 0, devices = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  ncclGetVersion(&nccl);
  env["cuda_driver_version"] = driver;
  env["cuda_runtime_version"] = runtime;
  env["nccl_version"] = nccl;
  if (cudaGetDeviceCount(&devices) != cudaSuccess) devices = 0;
  nlohmann::json gpus = nlohmann::json::array();
  for (int d = 0; d < devices; ++d) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, d) == cudaSuccess) {
      gpus.push_back({{"name", prop.name},
                      {"sms", prop.multiProcessorCount},
                      {"memory_bytes", static_cast<double>(prop.totalGlobalMem)}});
    }
  }
  env["gpus"] = gpus;
#endif
  return env.dump(2);
}

}  // namespace meshplan::validate
