"""A forced (periodic) schedule reuses exactly what it should, per cond UUID, and says so in its step events.

Two spies bracket the engine's model-call wrapper: one registered on the base model before the node runs
outside it and sees what the engine returns; one registered on the cached model runs inside it and sees
only the calls where the model really ran. On a reused step the outside spy's output must be, per UUID
chunk, the last computed output of that UUID (default), or the reuse formula of reuse.py computed by hand
from the inside spy's outputs and sigmas (taylor, adams_bashforth).
"""

from __future__ import annotations

import pytest
import torch
from helpers import CFG, Call, Spy, actions_by_step, periodic, sample_recorded

from devpack import tiny_models
from devpack.tiny_models import FAMILIES

STEPS = 10
# Periodic(interval 2, start_step 2) over 10 steps: 0 and 1 before the start, then every second step from 2,
# and the final step always.
COMPUTED_STEPS = {0, 1, 2, 4, 6, 8, 9}


def expected_reuse(history: list[tuple[float, torch.Tensor]], sigma: float, mode: str) -> torch.Tensor:
    """reuse.py's formulas by hand, in float64, from one UUID's computed outputs (oldest first)."""
    s0, f0 = history[-1][0], history[-1][1].double()
    if mode == "default" or len(history) < 2:
        return f0
    estimate, curvature = newton_terms(history, sigma)
    if mode == "adams_bashforth":  # mean of the linear extrapolation over [s0, sigma]
        return f0 + 0.5 * (estimate - f0)
    if len(history) < 4:  # order 2 (the nodes' taylor_order) has not forecast a computed value yet
        return estimate
    # The second-order term, scaled by the least-squares weight in [0, 1] that fitted the newest output
    # from the three before it.
    linear, term = newton_terms(history[:-1], s0)
    weight = float(((f0 - linear) * term).sum() / (term * term).sum().clamp_min(1e-30))
    return estimate + min(max(weight, 0.0), 1.0) * curvature


def newton_terms(history: list[tuple[float, torch.Tensor]], sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The linear Newton extrapolation at `sigma` from the newest two values, and the second-order term from the
    newest three (zero with fewer)."""
    (s0, f0), (s1, f1) = [(s, f.double()) for s, f in history[:-3:-1]]
    slope = (f0 - f1) / (s0 - s1)
    if len(history) < 3:
        return f0 + (sigma - s0) * slope, torch.zeros_like(f0)
    s2, f2 = history[-3][0], history[-3][1].double()
    return f0 + (sigma - s0) * slope, (sigma - s0) * (sigma - s1) * (slope - (f1 - f2) / (s1 - s2)) / (s0 - s2)


def run_forced(family: str, mode: str, cfg: float, split: bool, sampler: str = "euler", steps: int = STEPS,
               batch: int = 1) -> tuple[list[Call], list[Call], dict]:
    base = tiny_models.build_model(family, seed=0)
    outside, inside = Spy(), Spy()
    cached = inside.attach(periodic(outside.attach(base, "test.outside"), 2, 2, mode), "test.inside")
    _, record = sample_recorded(cached, family, steps=steps, cfg=cfg, split=split, sampler=sampler, batch=batch)
    return outside.calls, inside.calls, record


def check_forced_schedule(family: str, mode: str, cfg: float, split: bool, batch: int = 1) -> None:
    """batch: samples per cond (different noises); a UUID's chunk holds all of them."""
    outside, inside, record = run_forced(family, mode, cfg, split, batch=batch)
    branches = 1 if cfg == 1.0 else 2
    calls_per_step = 2 if split and branches == 2 else 1
    uuids_per_call = branches // calls_per_step
    assert len(outside) == STEPS * calls_per_step
    assert all(len(call.uuids) == uuids_per_call for call in outside), "cond/uncond did not arrive as intended"
    assert len({uuid for call in outside for uuid in call.uuids}) == branches

    history: dict[object, list[tuple[float, torch.Tensor]]] = {}
    next_inside = 0
    for index, call in enumerate(outside):
        step = index // calls_per_step
        ran = next_inside < len(inside) and inside[next_inside].uuids == call.uuids \
            and inside[next_inside].sigma == call.sigma
        assert ran == (step in COMPUTED_STEPS), f"step {step}: model ran={ran} against the periodic pattern"
        chunks = call.out.chunk(len(call.uuids))
        if ran:
            assert torch.equal(call.out, inside[next_inside].out), "a computed output was altered on its way out"
            for uuid, chunk in zip(call.uuids, chunks, strict=True):
                history.setdefault(uuid, []).append((call.sigma, chunk))
            next_inside += 1
            continue
        for uuid, chunk in zip(call.uuids, chunks, strict=True):
            expected = expected_reuse(history[uuid], call.sigma, mode)
            if mode == "default":
                assert torch.equal(chunk, expected), f"step {step}: not the branch's last computed output"
            else:
                torch.testing.assert_close(chunk.double(), expected, rtol=1e-5, atol=2e-5,
                                           msg=lambda m, s=step: f"step {s} ({mode}): {m}")
    assert next_inside == len(inside), "the model ran more often than the outside spy saw"

    assert record["status"] == "ok"
    reuse_action = "reused" if mode == "default" else "extrapolated"
    actions = actions_by_step(record)
    assert sorted(actions) == list(range(STEPS))
    for step, seen in actions.items():
        assert seen == {"computed" if step in COMPUTED_STEPS else reuse_action}, f"step {step}: {seen}"
    per_step = [sum(1 for event in record["steps"] if event["step"] == step) for step in range(STEPS)]
    assert per_step == [branches] * STEPS, "one step event per branch per step"
    assert {event["branch"] for event in record["steps"]} == ({"cond"} if branches == 1 else {"cond", "uncond"})
    summary = record["summary"]
    assert summary["model_calls"] == branches * STEPS
    assert summary["computed_calls"] == branches * len(COMPUTED_STEPS)


@pytest.mark.parametrize("family", FAMILIES)
def test_forced_schedule_reuses_last_output_batched_cfg(family):
    check_forced_schedule(family, "default", CFG, split=False)


@pytest.mark.parametrize("family", ["flux", "sd15", "sd3", "wan21", "lumina2"])
@pytest.mark.parametrize(("cfg", "split"), [(1.0, False), (CFG, True)], ids=["cfg1", "split-calls"])
def test_forced_schedule_reuses_last_output_cfg1_and_split_calls(family, cfg, split):
    check_forced_schedule(family, "default", cfg, split)


@pytest.mark.parametrize("family", ["flux", "sdxl", "sd3", "hunyuan_video", "qwen_image"])
@pytest.mark.parametrize("mode", ["taylor", "adams_bashforth"])
@pytest.mark.parametrize("split", [False, True], ids=["batched", "split-calls"])
def test_forced_schedule_extrapolates_by_the_formula(family, mode, split):
    check_forced_schedule(family, mode, CFG, split)


@pytest.mark.parametrize("mode", ["taylor", "adams_bashforth"])
def test_extrapolation_with_repeated_sigmas_uses_distinct_sigmas(mode):
    outside, inside, _ = run_forced("flux", mode, 1.0, split=False, sampler="heun")
    history: list[tuple[float, torch.Tensor]] = []
    next_inside, reused = 0, 0
    for index, call in enumerate(outside):
        if next_inside < len(inside) and inside[next_inside].sigma == call.sigma \
                and torch.equal(inside[next_inside].out, call.out):
            history = [item for item in history if item[0] != call.sigma] + [(call.sigma, call.out)]
            next_inside += 1
            continue
        reused += 1
        torch.testing.assert_close(call.out.double(), expected_reuse(history, call.sigma, mode), rtol=1e-5,
                                   atol=2e-5, msg=lambda m, i=index: f"call {i}: {m}")
    assert reused > 0
