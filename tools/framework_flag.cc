#include "tools/framework_flag.h"

#include <memory>
#include <string>

#include "costmodel/error.h"
#include "costmodel/specs.h"
#include "plans/framework.h"

namespace meshplan::tools {

void AddFrameworkFlag(CLI::App* sub, WorkloadOptions& o) {
  auto name = std::make_shared<std::string>();
  sub->add_option(
      "--framework", *name,
      "training framework whose defaults the workload takes (data/frameworks: torchtitan, "
      "megatron, nemo, llm-foundry, deepspeed, or a framework JSON); explicit flags win");
  WorkloadOptions* w = &o;
  // After parsing, before the command runs: fill what the user left out.
  sub->parse_complete_callback([sub, name, w] {
    if (name->empty()) return;
    const plans::Framework f = plans::ResolveFramework(*name, "--framework");
    auto given = [sub](const char* flag) {
      const CLI::Option* opt = sub->get_option_no_throw(flag);
      return opt != nullptr && opt->count() > 0;
    };
    if (!given("--no-flash-attention") && !given("--flash-version")) {
      w->no_flash_attention = !f.flash_attention;
      w->flash_version = f.flash_version;
    }
    if (!given("--eager-elementwise")) w->eager_elementwise = f.eager_elementwise;
    if (!given("--reduce-dtype"))
      w->reduce_dtype = std::string(costmodel::ToString(f.reduce_dtype));
    if (!given("--recipe")) w->recipe = std::string(costmodel::ToString(f.recipe));
    // meshplan prices FP8 as TransformerEngine's delayed scaling; another framework's FP8 path
    // (torchtitan's torchao Float8Linear) is refused, not priced as if it were TE.
    if (w->precision == "fp8" && f.fp8 != "te-delayed") {
      throw Error("--precision", "fp8 under --framework " + f.name + " runs " +
                                                f.fp8.value_or("no FP8 path") +
                                                ", which is not modelled (TransformerEngine delayed "
                                                "scaling is: --framework megatron, nemo or llm-foundry)");
    }
  });
}

}  // namespace meshplan::tools
