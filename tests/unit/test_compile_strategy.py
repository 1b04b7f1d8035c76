"""How a compiled model's keyed wrappers run each call (`choose_strategy`), without ComfyUI or torch."""

from __future__ import annotations

import itertools

import pytest

from afterburner.py.compile.strategy import (
    EXECUTOR_TO_BLOCKS,
    EXECUTOR_TO_EAGER,
    WHOLE_TO_BLOCKS,
    Kind,
    Strategy,
    choose_strategy,
)

FLUX = {"has_blocks": True, "inner_forward": "forward_orig"}  # a DiT behind its position ids
QWEN = {"has_blocks": True, "inner_forward": None}  # a DiT compiled at its `_forward`
UNET = {"has_blocks": False, "inner_forward": None}


def choose(scope="whole", wrapper_kind="diffusion_model", *, has_blocks, inner_forward, blocks_replaced=False,
           executor_known=True) -> Strategy:
    return choose_strategy(scope=scope, wrapper_kind=wrapper_kind, has_blocks=has_blocks,
                           blocks_replaced=blocks_replaced, inner_forward=inner_forward,
                           executor_known=executor_known)


@pytest.mark.parametrize(("family", "wrapper_kind", "call", "expected"), [
    # whole model, through the DIFFUSION_MODEL chain
    (FLUX, "diffusion_model", {}, Strategy(Kind.INNER_FORWARD)),
    (QWEN, "diffusion_model", {}, Strategy(Kind.INNERMOST)),
    (UNET, "diffusion_model", {}, Strategy(Kind.INNERMOST)),
    # another node replaces blocks (a block cache): per block for this call, and said
    (FLUX, "diffusion_model", {"blocks_replaced": True}, Strategy(Kind.BLOCKS, WHOLE_TO_BLOCKS)),
    (QWEN, "diffusion_model", {"blocks_replaced": True}, Strategy(Kind.BLOCKS, WHOLE_TO_BLOCKS)),
    # without blocks there is nothing to compile per block: the whole model as planned
    (UNET, "diffusion_model", {"blocks_replaced": True}, Strategy(Kind.INNERMOST)),
    # an executor Afterburner cannot chain a compiled function into
    (QWEN, "diffusion_model", {"executor_known": False}, Strategy(Kind.BLOCKS, EXECUTOR_TO_BLOCKS)),
    (UNET, "diffusion_model", {"executor_known": False}, Strategy(Kind.EAGER, EXECUTOR_TO_EAGER)),
    # the inner forward is swapped on the model, not chained into the executor
    (FLUX, "diffusion_model", {"executor_known": False}, Strategy(Kind.INNER_FORWARD)),
    # whole model under APPLY_MODEL (SD3, UNets, unknown families): the module swapped
    (UNET, "apply_model", {}, Strategy(Kind.MODULE)),
    (UNET, "apply_model", {"blocks_replaced": True}, Strategy(Kind.MODULE)),
    (QWEN, "apply_model", {"executor_known": False}, Strategy(Kind.MODULE)),
    (QWEN, "apply_model", {"blocks_replaced": True}, Strategy(Kind.BLOCKS, WHOLE_TO_BLOCKS)),
])
def test_whole_scope(family, wrapper_kind, call, expected):
    assert choose("whole", wrapper_kind, **family, **call) == expected


@pytest.mark.parametrize(("wrapper_kind", "has_blocks", "blocks_replaced", "inner_forward", "executor_known"),
                         list(itertools.product(("apply_model", "diffusion_model"), (True, False), (True, False),
                                                ("forward_orig", None), (True, False))))
def test_per_block_scope_always_runs_blocks_and_says_nothing(wrapper_kind, has_blocks, blocks_replaced,
                                                             inner_forward, executor_known):
    """Block replacements call the compiled blocks; the executor is only called."""
    assert choose("block", wrapper_kind, has_blocks=has_blocks, blocks_replaced=blocks_replaced,
                  inner_forward=inner_forward, executor_known=executor_known) == Strategy(Kind.BLOCKS)


def test_every_note_is_about_a_call_that_runs_otherwise_than_planned():
    """A note comes with per-block or eager runs of a whole-model plan only, and the whole-to-blocks note
    names what the user sees (the cache's decisions stay outside compiled code)."""
    for wrapper_kind, has_blocks, replaced, inner, known in itertools.product(
            ("apply_model", "diffusion_model"), (True, False), (True, False), ("forward_orig", None), (True, False)):
        strategy = choose("whole", wrapper_kind, has_blocks=has_blocks, blocks_replaced=replaced,
                          inner_forward=inner, executor_known=known)
        assert (strategy.note is None) == (strategy.kind not in (Kind.BLOCKS, Kind.EAGER))
    assert "compiling per block while it does" in WHOLE_TO_BLOCKS.text
    assert EXECUTOR_TO_BLOCKS.key == EXECUTOR_TO_EAGER.key  # one executor note per model, whichever applies


def test_a_strategy_is_a_value():
    strategy = choose(**QWEN, blocks_replaced=True)
    assert strategy == Strategy(Kind.BLOCKS, WHOLE_TO_BLOCKS) and hash(strategy) == hash(strategy)
    with pytest.raises(AttributeError):
        strategy.kind = Kind.EAGER  # type: ignore[misc]
