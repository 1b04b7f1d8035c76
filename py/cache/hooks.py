"""The cache's ComfyUI hooks: keyed wrappers and block replacements, installed on a clone by `install.py`.

Lifecycle: the sampling run (`py/run`) makes the cache's `CacheRun` when sampling starts and drops it when
sampling ends, and counts the steps from the sampler's callback; PREDICT_NOISE decides a step whose signal is
known before the model runs; the model-call wrapper (DIFFUSION_MODEL, or APPLY_MODEL
where a family has none) skips the whole model, or opens a `BlockPass` when blocks are cut. Every hook
takes `*args, **kwargs` and passes on what it does not understand.

Step k's decision covers every evaluation the sampler makes until it reports step k through its callback.
Two-stage samplers (heun, dpm_2) report a step after its first evaluation, so their corrector evaluation
at sigma[k] is decided, and labelled, with step k: one decision per noise level.

When ComfyUI calls CFG branches separately (it does when a batch would not fit in memory), the first call
of a step decides for all of them; with the `first_block` signal that call's branches alone are measured,
since the other branch has not run yet when the skip must be decided.

The model-call hooks and block replacements are opaque to torch.compile (`torch.compiler.disable`): a
compiler wrapped around the whole diffusion model (ComfyUI's TorchCompileModel) would otherwise trace the
decisions and the feature history into its graph and replay stale Python state. Its graph breaks there and
what runs under the hooks runs uncompiled, which the run reports; Afterburner Compile swaps compiled blocks in
under the hooks and is unaffected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .. import comfy_glue
from ..run.context import RUN_KEY
from .run_state import CacheRun

PASS_KEY = "afterburner_cache_pass"  # the BlockPass of one model call, in that call's transformer_options
WRAPPER_KEY = "afterburner.cache"
CAPABILITY = "cache"

_outside_compiled_graphs = torch.compiler.disable


def _cache_run(transformer_options: dict[str, Any]) -> CacheRun | None:
    run = transformer_options.get(RUN_KEY)
    return run.participant(CAPABILITY) if run is not None else None


def predict_noise(executor: Callable, *args: Any, **kwargs: Any) -> Any:
    call = comfy_glue.WrapperCall(comfy_glue.PREDICT_NOISE_ARGS, args, kwargs)
    run = _cache_run((call.get("model_options") or {}).get("transformer_options") or {})
    if run is not None and not run.decided and run.plan.signal != "first_block":
        run.decide_step(run.input_signal(call["x"]) if run.plan.signal == "input" else None)
    return executor(*args, **kwargs)


@_outside_compiled_graphs
def whole_model_call(executor: Callable, *args: Any, **kwargs: Any) -> Any:
    """Skip the whole model on a reused step: its output per branch comes from the branch's history."""
    options = comfy_glue.transformer_options(args, kwargs)
    run = _cache_run(options)
    if run is None or "uuids" not in options:
        return executor(*args, **kwargs)
    keys = [(uuid, "output") for uuid in options["uuids"]]
    sigma = options["sigmas"].reshape(-1)[0]
    computed = run.compute_now or not run.has_features(keys)
    if computed:
        output = executor(*args, **kwargs)
        for key, part in zip(keys, output.chunk(len(keys)), strict=True):
            run.feature(key).push(sigma, part, run.step)
    else:
        output = torch.cat([run.feature(key).predict(sigma, run.config.reuse, run.config.taylor_order)
                            for key in keys])
    run.record_call(options, computed)
    return output


@_outside_compiled_graphs
def block_model_call(executor: Callable, *args: Any, **kwargs: Any) -> Any:
    """Open a BlockPass for this call: the block replacements find it in the call's transformer_options."""
    options = comfy_glue.transformer_options(args, kwargs)
    run = _cache_run(options)
    if run is None or "uuids" not in options:
        return executor(*args, **kwargs)
    block_pass = BlockPass(run, options, run.plan.cut_stages)
    options[PASS_KEY] = block_pass
    try:
        return executor(*args, **kwargs)
    finally:
        options.pop(PASS_KEY, None)
        run.record_call(options, block_pass.computed)


class BlockPass:
    """One model call's way through the cut blocks.

    Each stage's skippable span [begin, end) runs whole on a computed step (its residual, output minus
    input per stream, is stored per branch) and is replaced by identity plus the predicted residual on a
    reused step. The `first_block` signal is the change of the first blocks' residual since the last
    computed step; other signals were decided before the model was called.
    """

    def __init__(self, run: CacheRun, options: dict[str, Any], stages: tuple[str, ...]) -> None:
        self.run = run
        self.uuids = list(options["uuids"])
        self.sigma = options["sigmas"].reshape(-1)[0]
        self._cached_keys = [(uuid, stage, "img") for uuid in self.uuids for stage in stages]
        self._stage_inputs: dict[tuple[str, str], torch.Tensor] = {}
        self.computed = True
        if run.decided:
            self._settle()

    def _settle(self) -> None:
        self.computed = self.run.compute_now or not self.run.has_features(self._cached_keys)

    def after_first_blocks(self, residual: torch.Tensor) -> None:
        run = self.run
        parts = residual.chunk(len(self.uuids))
        if not run.decided:
            changes = [run.change_since((uuid, "first"), part, update=False)
                       for uuid, part in zip(self.uuids, parts, strict=True)]
            run.decide_step(torch.cat(changes) if all(c is not None for c in changes) else None)
        self._settle()
        if self.computed:
            for uuid, part in zip(self.uuids, parts, strict=True):
                run.change_since((uuid, "first"), part, update=True)

    def run_block(self, stage: str, begin: int, end: int, index: int, args: dict[str, Any],
                  original: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        streams = [name for name in ("img", "txt") if name in args]
        if self.computed:
            if index == begin:
                for name in streams:  # a copy: Flux, Chroma, HunyuanVideo and LTXV blocks update in place
                    self._stage_inputs[(stage, name)] = args[name].clone()
            out = original(args)
            if index == end - 1:
                for name in streams:
                    if out.get(name) is not None:  # SD3's last block returns txt=None
                        residual = out[name] - self._stage_inputs[(stage, name)]
                        for uuid, part in zip(self.uuids, residual.chunk(len(self.uuids)), strict=True):
                            self.run.feature((uuid, stage, name)).push(self.sigma, part, self.run.step)
            return out
        if index < end - 1:
            return {name: args[name] for name in streams}
        return {name: args[name] + self._predicted(stage, name)
                if self.run.has_features([(uuid, stage, name) for uuid in self.uuids]) else args[name]
                for name in streams}

    def _predicted(self, stage: str, stream: str) -> torch.Tensor:
        run = self.run
        return torch.cat([run.feature((uuid, stage, stream)).predict(self.sigma, run.config.reuse,
                                                                      run.config.taylor_order)
                          for uuid in self.uuids])


def block_replacement(stage: str, index: int, span: tuple[int, int], ends_first_blocks: bool,
                      skip: bool) -> Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]:
    """The `patches_replace["dit"][(stage, index)]` function for one block.

    span: the stage's skippable blocks [begin, end); ends_first_blocks: this is the last of the always-run
    first blocks, whose residual feeds the `first_block` signal; skip: the block is in a user's skip list.
    """
    begin, end = span

    @_outside_compiled_graphs
    def replace(args: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        original = extra["original_block"]
        if skip:
            return {name: args[name] for name in ("img", "txt") if name in args}
        block_pass: BlockPass | None = (args.get("transformer_options") or {}).get(PASS_KEY)
        if block_pass is None:
            return original(args)
        if ends_first_blocks:
            before = args["img"].clone()  # the block may update it in place
            out = original(args)
            block_pass.after_first_blocks(out["img"] - before)
            return out
        if begin <= index < end:
            return block_pass.run_block(stage, begin, end, index, args, original)
        return original(args)

    return replace
