"""Compile settings, artifact keys and the recompile observer, without ComfyUI (the observer on torch.compile's
`eager` backend, which traces with dynamo and guards like inductor but generates no code)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from afterburner.py.compile.config import CompileConfig
from afterburner.py.compile.observe import CompileObserver
from afterburner.py.compile.persist import artifact_key, model_identity
from afterburner.py.telemetry import get_bus


def test_node_choices_map_onto_torch_compile_arguments():
    assert CompileConfig().torch_compile_kwargs() == {"backend": "inductor", "dynamic": None, "fullgraph": False}
    assert CompileConfig(dynamic="on", mode="max-autotune").torch_compile_kwargs() == {
        "backend": "inductor", "dynamic": True, "fullgraph": False, "mode": "max-autotune"}
    assert CompileConfig(dynamic="off", fullgraph=True).torch_compile_kwargs()["dynamic"] is False
    assert "mode" not in CompileConfig(backend="cudagraphs", mode="reduce-overhead").torch_compile_kwargs()


@pytest.mark.parametrize(("field", "value"), [("backend", "tvm"), ("mode", "fast"), ("dynamic", "maybe"),
                                              ("scope", "per layer")])
def test_invalid_choices_name_the_valid_ones(field, value):
    with pytest.raises(ValueError, match=f"{field} must be one of"):
        CompileConfig(**{field: value})


def test_labels_differ_for_every_setting_that_changes_compiled_code():
    configs = [CompileConfig(), CompileConfig(mode="max-autotune"), CompileConfig(dynamic="on"),
               CompileConfig(fullgraph=True), CompileConfig(scope="whole model"), CompileConfig(backend="cudagraphs")]
    assert len({c.label() for c in configs}) == len(configs)
    assert CompileConfig(persist=False).label() == CompileConfig().label()  # saving does not change the code


def test_artifact_key_follows_shapes_and_dtypes_not_values():
    a, b = torch.nn.Linear(4, 8), torch.nn.Linear(4, 8)
    assert model_identity(a) == model_identity(b)  # other weights (a LoRA, a fine-tune): same compiled code
    assert model_identity(a) != model_identity(torch.nn.Linear(4, 9))
    assert model_identity(a) != model_identity(torch.nn.Linear(4, 8).half())
    key = json.loads(artifact_key(a, torch.float32, "cpu", CompileConfig()))
    assert key["model"].startswith("Linear:") and key["device"].startswith("cpu:") and key["torch"] == torch.__version__
    assert artifact_key(a, torch.float32, "cpu", CompileConfig()) != artifact_key(a, torch.float16, "cpu",
                                                                                   CompileConfig())
    assert artifact_key(a, torch.float32, "cpu", CompileConfig()) != artifact_key(
        a, torch.float32, "cpu", dataclasses.replace(CompileConfig(), dynamic="on"))


class Recorder:
    """Every event the process-wide bus publishes while it is open, as (kind, payload)."""

    def __enter__(self) -> Recorder:
        self.events: list[tuple[str, dict]] = []
        self._unsubscribe = get_bus().subscribe(lambda event, payload: self.events.append((event.kind, payload)))
        return self

    def __exit__(self, *exc: object) -> None:
        get_bus().flush()
        self._unsubscribe()

    def of(self, kind: str) -> list[dict]:
        return [payload for k, payload in self.events if k == kind]


def test_observer_reports_first_compile_and_recompile_reason_naming_the_size():
    torch._dynamo.reset()

    def block(x):
        return torch.nn.functional.gelu(x) * 2

    compiled = torch.compile(block, backend="eager", dynamic=False)
    observer = CompileObserver("TinyModel")
    with Recorder() as recorder:
        for size in (4, 4, 6):
            mark = observer.mark()
            compiled(torch.ones(size))
            observer.report(mark, "blocks[0] Block", entry=("block",))
    events = recorder.of("compile")
    assert [(e["recompile"], e["count"]) for e in events] == [(False, 1), (True, 2)]
    assert events[0]["reason"] == "first compile" and events[0]["model"] == "TinyModel"
    assert "size mismatch at index 0" in events[1]["reason"] and "expected 4, actual 6" in events[1]["reason"]
    assert all(e["target"] == "blocks[0] Block" and e["duration_s"] > 0 for e in events)
    assert observer.take_save_request() and not observer.take_save_request()


def test_observer_survives_dynamo_reset():
    """`torch._dynamo.reset()` clears dynamo's callbacks: the observer re-registers its own."""
    observer = CompileObserver("TinyModel")
    torch._dynamo.reset()
    compiled = torch.compile(lambda x: x + 1, backend="eager")
    with Recorder() as recorder:
        mark = observer.mark()
        compiled(torch.ones(3))
        assert observer.report(mark, "fn") == 1
    assert len(recorder.of("compile")) == 1


def test_hitting_the_recompile_limit_is_a_notice_with_the_fix():
    torch._dynamo.reset()
    compiled = torch.compile(lambda x: x * 3, backend="eager", dynamic=False)
    observer = CompileObserver("TinyModel")
    with Recorder() as recorder, torch._dynamo.config.patch(recompile_limit=2):
        for size in (2, 3, 4):
            mark = observer.mark()
            compiled(torch.ones(size))
            observer.report(mark, "blocks[0] Block")
    (notice,) = recorder.of("notice")
    assert "recompile limit" in notice["message"] and "dynamic to 'on'" in notice["message"]
    assert "compile failed" in recorder.of("compile")[-1]["reason"]
