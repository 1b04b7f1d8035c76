"""A cache node's request, as one immutable object stored in the patched model's options."""

from __future__ import annotations

import dataclasses
from typing import Literal

from .policies import Guard, Policy
from .reuse import ReuseMode

SignalKind = Literal["none", "input", "first_block"]


@dataclasses.dataclass(frozen=True)
class Cut:
    """What is skipped on a reused step.

    first_blocks: 0 skips the whole diffusion model; N > 0 always runs the first N blocks of the first
        stage (they also feed the `first_block` signal) and skips the rest.
    last_blocks: blocks at the end of the last stage that are always computed (cache-dit's Bn).
    skip_blocks: (stage, index) blocks replaced by identity on every step (Lightning's skip lists).
    """

    first_blocks: int = 0
    last_blocks: int = 0
    skip_blocks: tuple[tuple[str, int], ...] = ()

    @property
    def whole_model(self) -> bool:
        return self.first_blocks == 0


@dataclasses.dataclass(frozen=True)
class CacheConfig:
    """Everything one cached sampling run needs to know; per-run state is built from it.

    method: the preset name shown in telemetry ("periodic", "adaptive", ...).
    params: the node's inputs, echoed to telemetry as given.
    policy, guard: when to compute (see policies.py).
    signal: what the policy measures; "none" for periodic schedules.
    reuse: what replaces a skipped computation (see reuse.py); taylor_order applies to "taylor".
    cut: what a reuse skips.
    offload: keep cached tensors in CPU memory instead of on the device.
    min_steps: runs with fewer steps are not cached (nothing to gain, quality to lose).
    cut_stages: the block stages whose spans are cut, resolved for the model by `install_cache`.
    """

    method: str
    params: dict
    policy: Policy
    guard: Guard = dataclasses.field(default_factory=Guard)
    signal: SignalKind = "input"
    reuse: ReuseMode = "default"
    taylor_order: int = 2
    cut: Cut = Cut()
    offload: bool = False
    min_steps: int = 5
    cut_stages: tuple[str, ...] = ()

    @property
    def history_depth(self) -> int:
        return {"default": 1, "adams_bashforth": 2}.get(self.reuse, self.taylor_order + 1)
