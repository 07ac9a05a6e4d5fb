// File: costmodel/spec_io.h
// Parsers for the specs: meshplan's own model/cluster JSON, HuggingFace config.json, and the
// layout text form. Every parser checks every field; a bad value throws meshplan::Error whose
// place names the origin (file or flag) and the JSON path, e.g.
//   "data/clusters/x.json: node.gpus_per_node: must be an integer >= 1, got 0".
#ifndef MESHPLAN_COSTMODEL_SPEC_IO_H_
#define MESHPLAN_COSTMODEL_SPEC_IO_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "costmodel/specs.h"

namespace meshplan::costmodel {

/// Highest schema_version this build reads; files from a newer version are rejected.
inline constexpr int kSchemaVersion = 1;

Model ParseModelJson(std::string_view text, std::string_view origin);
Cluster ParseClusterJson(std::string_view text, std::string_view origin);
/// A transformers config.json (families llama, mistral, qwen2, phi3, gpt2, gpt_neox, mixtral,
/// qwen2_moe, qwen3_moe, deepseek_v2, deepseek_v3, gpt_oss).
Model ParseHfConfig(std::string_view text, std::string_view origin);
/// Either format: a config.json (has "model_type") or meshplan's model JSON.
Model ParseAnyModelJson(std::string_view text, std::string_view origin);

/// "tp=8,sp=on,fsdp=32,..."; keys not given keep Layout's defaults, `recipe` defaults to
/// `default_recipe`. fsdp left 0 is filled in by ResolveLayout. The text may carry the
/// grad_accum reports print beside a layout: it is no layout field (the batch derives it), so
/// it goes to `given_grad_accum` (0 when absent) for CheckGivenGradAccum.
Layout ParseLayoutText(std::string_view text, std::string_view origin,
                       Recipe default_recipe = Recipe::kFsdp2, int64_t* given_grad_accum = nullptr);
/// Fills fsdp from the GPU count when absent and checks tp*fsdp*replicate*pp*cp == gpus.
void ResolveLayout(Layout& layout, const Workload& w, std::string_view origin);
/// A `grad_accum=N` given in a layout's text form (ParseLayoutText's given_grad_accum; 0: none)
/// must equal what the batch gives (global batch / (mbs x dp)); an Error naming `origin`
/// otherwise. Call after ResolveLayout.
void CheckGivenGradAccum(int64_t given, const Layout& l, const Workload& w, std::string_view origin);

class JsonObject;  // costmodel/json_reader.h
/// Reads every switch of kWorkloadSwitches that `in` has (its key, one of its two values, else
/// the reader's error); absent keys leave `s` as it is.
void ReadWorkloadSwitches(JsonObject& in, WorkloadSwitches& s);
/// Writes every switch of `s` that is on into the object `out` as its key and `on` value; the
/// off ones, the defaults, are left out.
void WriteWorkloadSwitches(const WorkloadSwitches& s, nlohmann::json& out);

Recipe ParseRecipe(std::string_view text, std::string_view origin);
/// Megatron-Core --recompute-modules names (core_attn, layernorm, mlp, moe_act, moe,
/// shared_experts) to RecomputeModule bits; an Error naming `origin` for an empty list, an unknown
/// or unmodelled module (mla_up_proj, mhc, gdn, ...) or one given twice.
uint8_t ParseRecomputeModules(const std::vector<std::string_view>& names, std::string_view origin);
/// 1f1b | interleaved | zb-h1.
Schedule ParseSchedule(std::string_view text, std::string_view origin);
/// "p2p", "all_gather" or "a2a" (Megatron-Core --cp-comm-type names); an Error naming `origin`.
CpComm ParseCpComm(std::string_view text, std::string_view origin);
Dtype ParseDtype(std::string_view text, std::string_view origin);
/// bf16 | fp8.
Precision ParsePrecision(std::string_view text, std::string_view origin);
/// te-delayed | te-tensorwise | torchao-tensorwise | torchao-rowwise | torchao-rowwise-gw-hp (specs.h
/// Fp8Recipe); an Error naming `origin` otherwise.
Fp8Recipe ParseFp8Recipe(std::string_view text, std::string_view origin);
/// Throws (naming `origin`) unless FP8 GEMMs can be priced on the cluster: FP8 tensor cores
/// (gpu.peak_tflops.fp8 > 0) and a measured FP8 GEMM efficiency
/// (efficiency.gemm_fp8_peak_fraction > 0); FP8 is never priced at the BF16 fraction.
void CheckFp8Runs(const Cluster& c, std::string_view origin);
/// Whether FP8 GEMMs can be priced on the cluster (what CheckFp8Runs checks, without throwing).
bool Fp8Priceable(const Cluster& c);

nlohmann::json ToJson(const Model& m);
nlohmann::json ToJson(const Cluster& c);
nlohmann::json ToJson(const Layout& l);
Layout LayoutFromJson(const nlohmann::json& j, std::string_view origin);

/// Largest input file ReadFileText accepts.
inline constexpr size_t kMaxInputFileBytes = size_t{64} << 20;
/// Largest sum of the input files one process reads (ReadFileText counts them).
inline constexpr size_t kMaxTotalInputBytes = size_t{128} << 20;
/// Reads a whole regular file; a missing, unreadable, oversized or non-regular file (a FIFO, a
/// device, a socket: refused before any read, so never a hang) is an Error naming it.
std::string ReadFileText(const std::string& path, std::string_view flag);

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_SPEC_IO_H_
