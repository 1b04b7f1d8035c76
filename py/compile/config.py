"""A compile node's request, as one immutable object."""

from __future__ import annotations

import dataclasses
from typing import Any

BACKENDS: tuple[str, ...] = ("inductor", "cudagraphs")
MODES: tuple[str, ...] = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
DYNAMIC: dict[str, bool | None] = {"auto": None, "on": True, "off": False}
SCOPES: tuple[str, ...] = ("per block", "whole model")


@dataclasses.dataclass(frozen=True)
class CompileConfig:
    """What to compile and how.

    backend: torch.compile backend; "cudagraphs" needs CUDA (without it the model runs eager and says so).
    mode: inductor's mode; ignored (with a note) by other backends.
    dynamic: "auto" compiles the sizes of each block's inputs dynamic from the first compile, except those
        the code fixes (channels, heads), the batch as one size that batch 1 does not specialise (for the
        families whose adapter names their broadcast inputs, `CompileFacts.broadcast_inputs`); a whole-model graph
        compiles static first (a dynamic one is much slower to compile) and general in every size at its
        first recompile, batch 1 included where the adapter names the whole model's broadcast inputs
        (`CompileFacts.whole_broadcast_inputs`); "on" is torch's dynamic=True (every size dynamic, size 1
        specialised, so going from batch 1 to a larger batch recompiles once); "off" specialises every shape (one
        compile per shape).
    fullgraph: refuse graph breaks (a break becomes an error that names the block).
    scope: "per block" compiles each block of the family's block lists (`CompileFacts.block_lists_to_compile`: its
        stages, or Lumina2's refiners and layers), sharing compiled code between blocks of one class; "whole
        model" compiles the diffusion model's forward as one region.
    persist: save compiled artifacts to the `afterburner_compile` model folder and load them on the next start.
    """

    backend: str = "inductor"
    mode: str = "default"
    dynamic: str = "auto"
    fullgraph: bool = False
    scope: str = "per block"
    persist: bool = True

    def __post_init__(self) -> None:
        for name, allowed in (("backend", BACKENDS), ("mode", MODES), ("dynamic", tuple(DYNAMIC)),
                              ("scope", SCOPES)):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}.")

    @property
    def whole_model(self) -> bool:
        return self.scope == "whole model"

    def torch_compile_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `torch.compile` (mode only where the backend is inductor)."""
        kwargs: dict[str, Any] = {"backend": self.backend, "dynamic": DYNAMIC[self.dynamic],
                                  "fullgraph": self.fullgraph}
        if self.backend == "inductor" and self.mode != "default":
            kwargs["mode"] = self.mode
        return kwargs

    def label(self) -> str:
        """A short, stable text of everything that changes the compiled code (for artifact keys and logs)."""
        mode = self.mode if self.backend == "inductor" else "-"
        return (f"{self.backend}/{mode}/dynamic={self.dynamic}/fullgraph={int(self.fullgraph)}/"
                f"{'whole' if self.whole_model else 'block'}")
