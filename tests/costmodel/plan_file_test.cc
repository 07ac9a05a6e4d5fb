// The plan file reader: what meshplan plan/simulate --json writes reads back as the specs and
// layout it was computed from, and every class of bad input is an Error with its exact text.
#include <gtest/gtest.h>

#include <functional>

#include <nlohmann/json.hpp>

#include "costmodel/error.h"
#include "costmodel/params.h"
#include "costmodel/plan_file.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"

namespace meshplan::costmodel {
namespace {

using nlohmann::json;

std::string Message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

/// A report in the shape plans/report.cc writes, built from the specs' ToJson forms.
json Report(const Model& m, const Cluster& c, const Layout& l, int64_t gpus, int64_t batch, int64_t seq) {
  json model = ToJson(m);
  model["params"] = CountParams(m).total;
  json layout = ToJson(l);
  layout["grad_accum"] = batch / (l.mbs * l.dp());
  return {{"schema_version", 1},
          {"tool", "meshplan 0.1.0"},
          {"command", "simulate"},
          {"inputs",
           {{"model", model}, {"cluster", ToJson(c)}, {"gpus", gpus}, {"global_batch", batch},
            {"seq", seq}, {"flash_attention", true}, {"reduce_dtype", "fp32"}, {"calibration", nullptr}}},
          {"layouts", json::array({{{"layout", layout}, {"layout_text", LayoutToText(l)},
                                    {"feasible", true}, {"time", {{"step_s", 1.0}}}}})}};
}

class PlanFile : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = ResolveModel("llama3-8b");
    cluster_ = ResolveCluster("dgx-h100");
    layout_ = ParseLayoutText("tp=8,sp=on,fsdp=4,replicate=2,zero=3,mbs=2,recompute=selective", "t");
    report_ = Report(model_, cluster_, layout_, 64, 128, 4096);
  }
  Model model_;
  Cluster cluster_;
  Layout layout_;
  json report_;
};

TEST_F(PlanFile, RoundTripsSpecsAndLayout) {
  const PlanSpec p = ReadPlanFile(report_.dump(), "plan.json");
  EXPECT_EQ(ToJson(p.model), ToJson(model_));
  EXPECT_EQ(ToJson(p.cluster), ToJson(cluster_));
  EXPECT_EQ(p.layout, layout_);
  EXPECT_EQ(p.layout_text, LayoutToText(layout_));
  EXPECT_EQ(p.workload.gpus, 64);
  EXPECT_EQ(p.workload.global_batch, 128);
  EXPECT_EQ(p.workload.seq, 4096);
  EXPECT_TRUE(p.workload.flash_attention);
  EXPECT_EQ(p.workload.reduce_dtype, Dtype::kFp32);
  EXPECT_EQ(p.command, "simulate");
  // The cluster's sources are not in reports: the spec cites the plan file instead.
  ASSERT_EQ(p.cluster.sources.size(), 1u);
  EXPECT_EQ(p.cluster.sources[0].source, "embedded in plan file plan.json");
}

TEST_F(PlanFile, ReadsTheCheckedInSimulateReport) {
  const std::string path = std::string(MESHPLAN_TEST_DATA) + "/plans/tiny-llama-tp2-fsdp2.json";
  const PlanSpec p = ReadPlanFile(ReadFileText(path, "test"), path);
  EXPECT_EQ(p.model.name, "tiny-llama");
  EXPECT_EQ(p.cluster.name, "cpu-local");
  EXPECT_EQ(p.layout_text, "tp=2,sp=on,fsdp=2,replicate=1,zero=3,mbs=1,recompute=none,recipe=fsdp2");
  EXPECT_EQ(p.workload.gpus, 4);
}

// Data-parallel traffic outside the passes (DeepSpeed, Megatron-LM without its overlap flags)
// travels with the plan; reports without the keys are overlapped, the only way they were priced.
TEST_F(PlanFile, DataParallelOverlapTravelsWithThePlan) {
  EXPECT_FALSE(ReadPlanFile(report_.dump(), "plan.json").workload.dp_reduce_after_backward);
  EXPECT_FALSE(ReadPlanFile(report_.dump(), "plan.json").workload.dp_gather_after_step);
  report_["inputs"]["dp_grad_reduce"] = "after_backward";
  report_["inputs"]["dp_param_gather"] = "before_forward";
  EXPECT_TRUE(ReadPlanFile(report_.dump(), "plan.json").workload.dp_reduce_after_backward);
  EXPECT_TRUE(ReadPlanFile(report_.dump(), "plan.json").workload.dp_gather_after_step);
  report_["inputs"]["dp_grad_reduce"] = "later";
  EXPECT_EQ(Message([&] { ReadPlanFile(report_.dump(), "plan.json"); }).rfind("plan.json: inputs.dp_grad_reduce: ", 0),
            0u);
  // Megatron-Core's gradient buckets (--framework megatron / nemo) travel too.
  report_["inputs"]["dp_grad_reduce"] = "after_backward";
  EXPECT_FALSE(ReadPlanFile(report_.dump(), "plan.json").workload.dp_buckets_megatron_core);
  report_["inputs"]["dp_buckets"] = "megatron_core";
  EXPECT_TRUE(ReadPlanFile(report_.dump(), "plan.json").workload.dp_buckets_megatron_core);
  report_["inputs"]["dp_buckets"] = "per_bucket";
  EXPECT_EQ(Message([&] { ReadPlanFile(report_.dump(), "plan.json"); }).rfind("plan.json: inputs.dp_buckets: ", 0),
            0u);
}

// The FP8 recipe travels with the plan; torchao's rowwise recipes with an FP8 parameter gather
// are refused (FSDP's float8 all-gather is tensorwise only, torchao float8/config.py).
TEST_F(PlanFile, Fp8RecipeTravelsAndRowwiseRefusesTheFp8Gather) {
  report_["inputs"]["precision"] = "fp8";
  report_["inputs"]["fp8_recipe"] = "torchao-rowwise-gw-hp";
  EXPECT_EQ(ReadPlanFile(report_.dump(), "plan.json").workload.fp8_recipe, Fp8Recipe::kTorchaoRowwiseGwHp);
  report_["inputs"]["fp8_param_gather"] = true;
  EXPECT_EQ(Message([&] { ReadPlanFile(report_.dump(), "plan.json"); }),
            "plan.json: inputs.fp8_param_gather: true with fp8_recipe torchao-rowwise-gw-hp: FSDP's float8 all-gather "
            "only supports tensorwise scaling (torchao)");
  report_["inputs"]["fp8_recipe"] = "torchao-tensorwise";
  EXPECT_TRUE(ReadPlanFile(report_.dump(), "plan.json").workload.fp8_param_gather);
}

// Reports written before flash_version existed read as FlashAttention-2; FA3 needs Hopper.
TEST_F(PlanFile, FlashVersionDefaultsToTwoAndFa3NeedsHopper) {
  EXPECT_EQ(ReadPlanFile(report_.dump(), "plan.json").workload.flash_version, 2);
  EXPECT_FALSE(ReadPlanFile(report_.dump(), "plan.json").workload.eager_elementwise);
  report_["inputs"]["eager_elementwise"] = true;
  EXPECT_TRUE(ReadPlanFile(report_.dump(), "plan.json").workload.eager_elementwise);
  report_["inputs"]["flash_version"] = 3;
  EXPECT_EQ(ReadPlanFile(report_.dump(), "plan.json").workload.flash_version, 3);  // dgx-h100
  report_["inputs"]["flash_version"] = 4;
  EXPECT_EQ(Message([&] { ReadPlanFile(report_.dump(), "plan.json"); }),
            "plan.json: inputs.flash_version: must be an integer <= 3, got 4");
  json a100 = Report(model_, ResolveCluster("dgx-a100-80g"), layout_, 64, 128, 4096);
  a100["inputs"]["flash_version"] = 3;
  EXPECT_EQ(Message([&] { ReadPlanFile(a100.dump(), "plan.json"); }),
            "plan.json: inputs.flash_version: FlashAttention-3 runs only on Hopper GPUs, the cluster has "
            "A100-SXM4-80GB");
}

TEST_F(PlanFile, NewerSchemaIsRejected) {
  report_["schema_version"] = 2;
  EXPECT_EQ(Message([&] { ReadPlanFile(report_.dump(), "plan.json"); }),
            "plan.json: schema_version: is 2 but this meshplan reads versions up to 1; upgrade meshplan");
}

TEST_F(PlanFile, NotJsonNamesTheFile) {
  EXPECT_EQ(Message([&] { ReadPlanFile("{", "plan.json"); }).rfind("plan.json: not valid JSON: ", 0), 0u);
}

TEST_F(PlanFile, MissingModelFieldNamesItsPath) {
  report_["inputs"]["model"].erase("layers");
  EXPECT_EQ(Message([&] { ReadPlanFile(report_.dump(), "plan.json"); }),
            "plan.json: inputs.model: layers: missing (required)");
}

TEST_F(PlanFile, DerivedParamsMustMatchTheCount) {
  report_["inputs"]["model"]["params"] = 7;
  EXPECT_EQ(Message([&] { ReadPlanFile(report_.dump(), "plan.json"); }),
            "plan.json: inputs.model: params: must equal the parameter count of this model (8030261248), got 7");
}

TEST_F(PlanFile, UnknownInputKeyIsAnError) {
  report_["inputs"]["gpu_count"] = 64;
  EXPECT_EQ(Message([&] { ReadPlanFile(report_.dump(), "plan.json"); }),
            "plan.json: inputs.gpu_count: unknown key");
}

TEST_F(PlanFile, UnknownClusterKeyIsAnError) {
  report_["inputs"]["cluster"]["gpu"]["tflops"] = 1;
  EXPECT_EQ(Message([&] { ReadPlanFile(report_.dump(), "plan.json"); }),
            "plan.json: inputs.cluster: gpu.tflops: unknown key");
}

TEST_F(PlanFile, LayoutIndexOutOfRange) {
  EXPECT_EQ(Message([&] { ReadPlanFile(report_.dump(), "plan.json", 3); }),
            "plan.json: layouts: has 1 entries; --layout-index 3 is out of range");
}

TEST_F(PlanFile, InfeasibleLayoutIsRefused) {
  report_["layouts"][0]["feasible"] = false;
  EXPECT_EQ(Message([&] { ReadPlanFile(report_.dump(), "plan.json"); }),
            "plan.json: layouts[0].feasible: is false: this layout cannot run (see its reasons[]); pick another");
}

TEST_F(PlanFile, LayoutMustCoverTheGpus) {
  report_["inputs"]["gpus"] = 32;
  EXPECT_EQ(Message([&] { ReadPlanFile(report_.dump(), "plan.json"); }),
            "plan.json: layouts[0].layout: tp*fsdp*replicate = 64 does not equal inputs.gpus 32");
}

TEST_F(PlanFile, HugeDegreeIsRejectedBeforeMultiplying) {
  report_["layouts"][0]["layout"]["fsdp"] = int64_t{1} << 40;
  report_["layouts"][0]["layout"]["replicate"] = int64_t{1} << 40;
  EXPECT_EQ(Message([&] { ReadPlanFile(report_.dump(), "plan.json"); }),
            "plan.json: layouts[0]: layout.fsdp: must be an integer <= 16777216, got 1099511627776");
}

TEST_F(PlanFile, LayoutTextMustMatchTheLayout) {
  report_["layouts"][0]["layout_text"] = "tp=4";
  EXPECT_EQ(Message([&] { ReadPlanFile(report_.dump(), "plan.json"); }),
            "plan.json: layouts[0].layout_text: \"tp=4\" does not match layout "
            "(tp=8,sp=on,fsdp=4,replicate=2,zero=3,mbs=2,recompute=selective,recipe=fsdp2)");
}

TEST_F(PlanFile, WrongCommandIsRejected) {
  report_["command"] = "sweep";
  EXPECT_EQ(Message([&] { ReadPlanFile(report_.dump(), "plan.json"); }),
            "plan.json: command: must be one of plan | simulate, got \"sweep\"");
}

TEST_F(PlanFile, GradAccumMustMatchTheBatch) {
  report_["layouts"][0]["layout"]["grad_accum"] = 3;
  EXPECT_EQ(Message([&] { ReadPlanFile(report_.dump(), "plan.json"); }),
            "plan.json: layouts[0].layout.grad_accum: must be global_batch / (mbs x dp) = 8, got 3");
}

}  // namespace
}  // namespace meshplan::costmodel
