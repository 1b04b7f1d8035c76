"""A cache node's request, as one immutable object, refused at construction when it cannot work."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from ..capability import ConfigError, Params, require_choice, require_finite
from .policies import Guard, Policy
from .reuse import REUSE_MODES, ReuseMode

SignalKind = Literal["none", "input", "first_block"]
SIGNALS: tuple[str, ...] = ("none", "input", "first_block")


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

    def __post_init__(self) -> None:
        require_finite("first_blocks", self.first_blocks, 0)
        require_finite("last_blocks", self.last_blocks, 0)

    @property
    def whole_model(self) -> bool:
        return self.first_blocks == 0


@dataclasses.dataclass(frozen=True)
class CacheConfig:
    """What a cache node asks for; what a model allows of it is the `CachePlan` (plan.py).

    method: the preset name shown in telemetry ("periodic", "adaptive", ...).
    params: the node's inputs as given (read-only), echoed to telemetry.
    policy, guard: when to compute (see policies.py).
    signal: what the policy measures; "none" only for policies that need no signal (periodic schedules).
    reuse: what replaces a skipped computation (see reuse.py); taylor_order (1 or 2) applies to "taylor".
    cut: what a reuse skips.
    offload: keep cached tensors in CPU memory instead of on the device.
    min_steps: runs with fewer steps are not cached (nothing to gain, quality to lose).
    """

    method: str
    params: Mapping[str, Any]
    policy: Policy
    guard: Guard = dataclasses.field(default_factory=Guard)
    signal: SignalKind = "input"
    reuse: ReuseMode = "default"
    taylor_order: int = 2
    cut: Cut = Cut()
    offload: bool = False
    min_steps: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", Params(self.params))
        require_choice("cache_mode", self.reuse, REUSE_MODES)
        require_choice("signal", self.signal, SIGNALS)
        if self.policy.needs_signal and self.signal == "none":
            raise ConfigError("signal", f"the {type(self.policy).__name__.lower()} policy decides on a signal; "
                                        f"choose one of {', '.join(s for s in SIGNALS if s != 'none')}.")
        if self.taylor_order not in (1, 2):
            raise ConfigError("taylor_order", f"must be 1 or 2; got {self.taylor_order!r}.")
        require_finite("min_steps", self.min_steps, 1)

    @property
    def history_depth(self) -> int:
        return {"default": 1, "adams_bashforth": 2}.get(self.reuse, self.taylor_order + 1)
