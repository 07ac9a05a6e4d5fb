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
    // The framework's switches; its attention kernel only with its attention (no flash flag given).
    const bool te_attention = w->te_attention;
    static_cast<costmodel::WorkloadSwitches&>(*w) = f;
    if (!given("--no-flash-attention") && !given("--flash-version")) {
      w->no_flash_attention = !f.flash_attention;
      w->flash_version = f.flash_version;
    } else {
      w->te_attention = te_attention;
    }
    if (!given("--eager-elementwise")) w->eager_elementwise = f.eager_elementwise;
    if (!given("--fsdp1")) w->fsdp1 = !f.fsdp2_copies;
    if (!given("--reduce-dtype"))
      w->reduce_dtype = std::string(costmodel::ToString(f.reduce_dtype));
    if (!given("--recipe")) {
      w->recipe = std::string(costmodel::ToString(f.recipe));
      w->recipe_from = "--framework " + f.name;
    }
    // The search keeps to what the framework runs, unless --recipe chose another framework's
    // model states (explicit flags win; the caveat says the search is then not limited).
    w->framework = f.name;
    if (w->recipe == costmodel::ToString(f.recipe)) w->framework_layouts = f.layouts;
    // FP8 takes the framework's own path: TransformerEngine's recipes (megatron, nemo,
    // llm-foundry) or torchao's Float8Linear (torchtitan); the other path's recipe is an error.
    if (w->precision == "fp8") {
      if (!f.fp8) throw Error("--precision", "fp8: --framework " + f.name + " has no FP8 path");
      const bool torchao = *f.fp8 == "torchao-tensorwise";
      if (w->fp8_recipe.empty()) {
        w->fp8_recipe = *f.fp8;
      } else if (torchao != (w->fp8_recipe.rfind("torchao", 0) == 0)) {
        throw Error("--fp8-recipe", w->fp8_recipe + ": --framework " + f.name + " runs " +
                                        (torchao ? "torchao's float8 (torchao-tensorwise, torchao-rowwise or torchao-rowwise-gw-hp)"
                                                 : "TransformerEngine's FP8 (te-delayed or te-tensorwise)"));
      }
      // torchtitan's float8 runs under torch.compile, which fuses the elementwise ops too.
      if (torchao && !given("--eager-elementwise")) w->eager_elementwise = false;
    }
  });
}

}  // namespace meshplan::tools
