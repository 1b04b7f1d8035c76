"""The compile node: maps its inputs onto one CompileConfig and installs it."""

from __future__ import annotations

from comfy_api.latest import io

from ..compile import install as _install  # noqa: F401 - registers compile's install handler
from ..compile.config import BACKENDS, MODES, SCOPES, CompileConfig
from .capability_node import CapabilityNode

CATEGORY = "afterburner/compile"


class AfterburnerCompile(CapabilityNode):
    TITLE = "Compile"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AfterburnerCompile",
            display_name="Afterburner Compile",
            category=CATEGORY,
            description="torch.compile the diffusion model, block by block (fast cold start, one compiled code per "
                        "block class) or whole. LoRA-safe: weights are patched as usual and reach the compiled code. "
                        "Works with Afterburner's caches in either order. Each compile and recompile, with the "
                        "reason, shows in the Afterburner sidebar; compiled code is saved to models/"
                        "afterburner_compile and reused after a restart.",
            inputs=[
                io.Model.Input("model", tooltip="The diffusion model to compile. The input model is not modified."),
                io.Combo.Input("backend", options=list(BACKENDS), default="inductor",
                               tooltip="inductor: generated kernels (C++ on CPU, triton on GPU). cudagraphs: CUDA "
                                       "graph capture only, needs a CUDA GPU; without one the model runs "
                                       "uncompiled and the sidebar says so."),
                io.Combo.Input("mode", options=list(MODES), default="default",
                               tooltip="inductor's mode. default: quickest compile. reduce-overhead: CUDA graphs "
                                       "(GPU only). max-autotune: benchmarks kernel choices, much slower compile. "
                                       "max-autotune-no-cudagraphs: the same without CUDA graphs."),
                io.Combo.Input("dynamic", options=["auto", "on", "off"], default="auto",
                               tooltip="auto: a block's first compile already serves every batch size, "
                                       "resolution and prompt length (a whole model: from its first "
                                       "recompile; on some families batch 1 apart). on: torch's dynamic "
                                       "shapes, batch 1 apart. off: one compile per shape."),
                io.Boolean.Input("fullgraph", default=False,
                                 tooltip="Require each compiled region to be one graph; a graph break becomes an "
                                         "error naming the block (debugging). Off: breaks run as Python."),
                io.Combo.Input("scope", options=list(SCOPES), default="per block",
                               tooltip="per block: compile each transformer block; blocks of one class share "
                                       "compiled code, so cold start is a few blocks' worth. whole model: one "
                                       "region; a longer cold start (about 3x on Flux) and one recompile at the "
                                       "first new size or batch (on some families one more between batch 1 and "
                                       "larger batches). Families without known blocks compile whole."),
                io.Boolean.Input("save_compiled", default=True,
                                 tooltip="Save compiled code to models/afterburner_compile and load it on the next "
                                         "start (skips code generation). A corrupt or stale file is reported, "
                                         "deleted and rebuilt."),
            ],
            outputs=[io.Model.Output(tooltip="The model, compiled at its first sampling step.")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def request(cls, backend: str, mode: str, dynamic: str, fullgraph: bool, scope: str,
                save_compiled: bool = True) -> CompileConfig:
        return CompileConfig(backend, mode, dynamic, fullgraph, scope, save_compiled)


COMPILE_NODES: tuple[type[io.ComfyNode], ...] = (AfterburnerCompile,)
