"""How one model call runs compiled: the choice a compiled model's keyed wrapper makes on every call.

A per-block compile swaps compiled blocks into the block lists. A whole-model compile replaces only code
inside the family's DIFFUSION_MODEL wrapper chain: the family's inner forward (Flux's `forward_orig`, behind
the position ids, which would fix the resolution), else the chain's innermost function (`_forward`, with the
methods that make position ids there run eagerly: `CompileFacts.uncompiled_methods`), so every DIFFUSION_MODEL
wrapper (the cache's skip decision, other packs) stays outside compiled code whatever order the nodes were
applied in. Families whose forward runs no DIFFUSION_MODEL wrappers compile the diffusion model module whole,
under APPLY_MODEL.

Block replacements (`patches_replace["dit"]`, how the cache skips blocks) run outside compiled regions when
blocks are compiled: the family's forward calls the replacement, which calls the compiled block, or does not
call it on a skipped step. A whole-model compile would trace such replacements into the graph, so while a
call has them, a whole-model compile compiles per block for that call instead and says so once.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Literal


class Kind(enum.Enum):
    MODULE = "module"  # the diffusion model module swapped for its compiled one (APPLY_MODEL)
    INNER_FORWARD = "inner forward"  # the family's inner forward swapped for its compiled code
    INNERMOST = "innermost function"  # the innermost function of the DIFFUSION_MODEL chain compiled
    BLOCKS = "blocks"  # compiled blocks swapped into the block lists
    EAGER = "eager"  # nothing compiled for this call


@dataclasses.dataclass(frozen=True)
class Note:
    """What the user is told, once per compiled model (`key`), about a call that does not run as planned."""

    key: str
    text: str  # follows the model's label


@dataclasses.dataclass(frozen=True)
class Strategy:
    kind: Kind
    note: Note | None = None


WHOLE_TO_BLOCKS = Note("whole_to_blocks", "another node replaces blocks (a block cache); compiling per block "
                                          "while it does, so its decisions stay outside compiled code")
_UNKNOWN_EXECUTOR = "this ComfyUI's wrapper executor is unknown to Afterburner; "
EXECUTOR_TO_BLOCKS = Note("executor", _UNKNOWN_EXECUTOR + "compiling per block instead of the whole model")
EXECUTOR_TO_EAGER = Note("executor", _UNKNOWN_EXECUTOR + "whole-model compile is off (running uncompiled)")


def choose_strategy(*, scope: Literal["block", "whole"], wrapper_kind: Literal["apply_model", "diffusion_model"],
                    has_blocks: bool, blocks_replaced: bool, inner_forward: str | None,
                    executor_known: bool) -> Strategy:
    """How this call runs.

    scope: the plan's (`Plan.scope`). wrapper_kind: the keyed wrapper that asks, APPLY_MODEL's or
    DIFFUSION_MODEL's (`Adapter.model_wrapper`). has_blocks: the plan found the family's blocks.
    blocks_replaced: the call carries block replacements (`patches_replace["dit"]`). inner_forward: the family's
    (`CompileFacts.inner_forward`). executor_known: the DIFFUSION_MODEL executor has the fields a compiled
    innermost function is chained in with (`original`, `wrappers`, `idx`).
    """
    if scope == "block":
        return Strategy(Kind.BLOCKS)
    if has_blocks and blocks_replaced:
        return Strategy(Kind.BLOCKS, WHOLE_TO_BLOCKS)
    if wrapper_kind == "apply_model":
        return Strategy(Kind.MODULE)
    if inner_forward is not None:
        return Strategy(Kind.INNER_FORWARD)
    if not executor_known:
        return Strategy(Kind.BLOCKS, EXECUTOR_TO_BLOCKS) if has_blocks else Strategy(Kind.EAGER, EXECUTOR_TO_EAGER)
    return Strategy(Kind.INNERMOST)
