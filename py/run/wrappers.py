"""The run's keyed wrappers: OUTER_SAMPLE makes the `SamplingRun` and ends it in `finally`; SAMPLER_SAMPLE
wraps the sampler's step callback, which is where the current step comes from (never from matching sigmas,
which breaks on Heun, SDE and custom samplers).

Every capability's install calls `enroll`, which puts the wrappers on once under one key, so however many
Afterburner nodes a model went through, each sampling run is one run with one record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from comfy.patcher_extension import WrappersMP

from .. import comfy_glue
from ..telemetry import get_bus
from ..telemetry.scope import run_scope
from .context import ENROLLMENTS_KEY, RUN_KEY, Enrollment, SamplingRun

WRAPPER_KEY = "afterburner.run"
log = logging.getLogger("afterburner")


def enroll(patcher: Any, capability: str, enrollment: Enrollment) -> None:
    """Make `capability` take part in every sampling run of `patcher` (a clone the capability owns); an earlier
    enrollment of the same capability is replaced."""
    enrollments = dict(patcher.model_options.get(ENROLLMENTS_KEY) or {})
    enrollments[capability] = enrollment
    patcher.model_options[ENROLLMENTS_KEY] = enrollments
    for kind, wrapper in ((WrappersMP.OUTER_SAMPLE, outer_sample), (WrappersMP.SAMPLER_SAMPLE, sampler_sample)):
        patcher.remove_wrappers_with_key(kind, WRAPPER_KEY)
        patcher.add_wrapper_with_key(kind, WRAPPER_KEY, wrapper)


def withdraw(patcher: Any, capability: str) -> None:
    """Undo `enroll` for `capability` (the wrappers stay while another capability is enrolled)."""
    enrollments = dict(patcher.model_options.get(ENROLLMENTS_KEY) or {})
    enrollments.pop(capability, None)
    patcher.model_options[ENROLLMENTS_KEY] = enrollments
    if not enrollments:
        for kind in (WrappersMP.OUTER_SAMPLE, WrappersMP.SAMPLER_SAMPLE):
            patcher.remove_wrappers_with_key(kind, WRAPPER_KEY)


def run_of(model_options: dict[str, Any]) -> SamplingRun | None:
    """The sampling run these model options belong to (the run's copy of them, or a copy made from it)."""
    return (model_options.get("transformer_options") or {}).get(RUN_KEY)


def outer_sample(executor: Callable, *args: Any, **kwargs: Any) -> Any:
    guider = executor.class_obj
    options = guider.model_options
    enrollments = options.get(ENROLLMENTS_KEY)
    if not enrollments:
        return executor(*args, **kwargs)
    call = comfy_glue.WrapperCall(comfy_glue.OUTER_SAMPLE_ARGS, args, kwargs)
    run_options = comfy_glue.model_options_clone(options)
    run = SamplingRun(type(guider.model_patcher.model.diffusion_model).__name__, call["sigmas"], run_options,
                      get_bus())
    run_options.setdefault("transformer_options", {})[RUN_KEY] = run
    guider.model_options = run_options
    status, message = "error", ""
    with run_scope(run.run_id):
        try:
            run.begin(enrollments)
            output = executor(*args, **kwargs)
            status = "ok"
            return output
        except BaseException as err:
            status = "interrupted" if comfy_glue.is_interrupt(err) else "error"
            message = f"{type(err).__name__}: {err}"
            raise
        finally:
            guider.model_options = options
            summary = run.finish(status, message)
            log.info("Afterburner run %s (%s): %d steps in %.2fs, %s", run.run_id, " + ".join(enrollments),
                     run.total_steps, summary.wall_s, status)

def sampler_sample(executor: Callable, *args: Any, **kwargs: Any) -> Any:
    call = comfy_glue.WrapperCall(comfy_glue.SAMPLER_SAMPLE_ARGS, args, kwargs)
    run = run_of((call.get("extra_args") or {}).get("model_options") or {})
    if run is None:
        return executor(*args, **kwargs)
    user_callback = call.get("callback")

    def on_step(step: int, *cb_args: Any, **cb_kwargs: Any) -> Any:
        run.step_finished(step)
        return user_callback(step, *cb_args, **cb_kwargs) if user_callback is not None else None

    args, kwargs = call.replaced("callback", on_step)
    return executor(*args, **kwargs)
