"""Persistent compiled artifacts on the real ComfyUI: a compile saves a file under the registered
`afterburner_compile` folder; a fresh process state (dynamo reset, empty inductor cache directory) loads it
and compiles from it without code generation or the C++ compiler; a corrupt, truncated or foreign file is
reported as a notice, deleted and rebuilt, never a crash.
"""

from __future__ import annotations

from pathlib import Path

import folder_paths
import pytest
import torch
from helpers import (
    TOL,
    Events,
    build,
    compile_isolation,  # noqa: F401 - its autouse fixture
    compiled,
    sample_short,
)
from torch._inductor.runtime.cache_dir_utils import temporary_cache_dir

from afterburner.py.compile import persist
from afterburner.py.compile.artifacts import FOLDER_NAME, SUFFIX, ArtifactStore, encode_bundle


@pytest.fixture
def folder(tmp_path) -> Path:
    """A fresh artifact folder (registered as ComfyUI's afterburner_compile folder) and nothing loaded yet."""
    saved = folder_paths.folder_names_and_paths.get(FOLDER_NAME)
    folder_paths.folder_names_and_paths[FOLDER_NAME] = ([str(tmp_path / "artifacts")], set())
    persist.forget_loaded()
    yield tmp_path / "artifacts"
    if saved is None:
        folder_paths.folder_names_and_paths.pop(FOLDER_NAME, None)
    else:
        folder_paths.folder_names_and_paths[FOLDER_NAME] = saved


def compile_fresh(family: str = "flux"):
    """Forget dynamo's compiled code and what was loaded, then compile and sample once."""
    torch._dynamo.reset()
    persist.forget_loaded()
    model = build(family)
    return sample_short(compiled(model), family), sample_short(model, family)


def artifact_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{SUFFIX}"))


def test_compile_saves_and_a_fresh_start_loads_without_codegen(folder, tmp_path):
    compile_fresh()
    files = artifact_files(folder)
    assert len(files) == 1 and files[0].name.startswith("Flux-")
    assert files[0].read_bytes()[:8] == b"ABCOMPIL"
    assert folder_paths.get_folder_paths(FOLDER_NAME)[0] == str(folder)

    events = Events()
    with temporary_cache_dir(str(tmp_path / "fresh_inductor_cache")):  # a restart: nothing compiled on disk
        from torch._dynamo.utils import clear_compilation_metrics, get_compilation_metrics

        clear_compilation_metrics()  # the process keeps the metrics of every earlier test's compiles
        out, eager = compile_fresh()
        metrics = [m for m in get_compilation_metrics() if m.co_name == "forward"]
        kernels = list((tmp_path / "fresh_inductor_cache").glob("??/*.so"))
    torch.testing.assert_close(out, eager, **TOL)
    assert any("loaded" in n["message"] and "compiled artifacts" in n["message"] for n in events.notices)
    # No code generation: no frame missed inductor's cache. (Hit counters are not asserted: frames whose code
    # objects earlier tests in this process already traced can be served without counting a local hit.)
    assert metrics and all(not m.inductor_fx_local_cache_miss_count for m in metrics), "inductor had to regenerate"
    assert kernels, "the C++ kernel libraries should have been restored from the file"
    assert events.compiles, "dynamo still traces (and reports) every region on a warm start"


def test_every_save_of_a_process_is_loaded_on_a_fresh_start(folder, tmp_path):
    """Regression: torch folds the batches of repeated `save_cache_artifacts()` calls into one dict by artifact
    type when it loads them, keeping only the last. A process that compiled (and saved) several times, as a
    long-running ComfyUI does on a new resolution, must still restart without code generation for every
    shape it compiled."""
    torch._dynamo.reset()
    persist.forget_loaded()
    model = compiled(build("flux"), dynamic="off")
    shapes = [(64, 1), (96, 1), (80, 2)]  # static: three compiles of each block class, three saves
    for size, batch in shapes:
        sample_short(model, "flux", size=size, batch=batch, steps=2)
    with temporary_cache_dir(str(tmp_path / "fresh_inductor_cache")):
        from torch._dynamo.utils import clear_compilation_metrics, get_compilation_metrics

        torch._dynamo.reset()
        persist.forget_loaded()
        clear_compilation_metrics()
        restarted = compiled(build("flux"), dynamic="off")
        for size, batch in shapes:
            sample_short(restarted, "flux", size=size, batch=batch, steps=2)
        metrics = [m for m in get_compilation_metrics() if m.co_name == "forward"]
    assert len(metrics) >= len(shapes), "every shape compiles again after a restart (dynamo traces)"
    misses = [m.compile_id for m in metrics if m.inductor_fx_local_cache_miss_count]
    assert not misses, f"code generation after a restart for {misses}: a save was lost"


def _corrupt(path: Path, how: str) -> None:
    blob = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(blob[: len(blob) // 2]))
    elif how == "bit_flip":
        blob[len(blob) - 100] ^= 0x10
        path.write_bytes(bytes(blob))
    elif how == "garbage":
        path.write_bytes(b"not an artifact at all")


@pytest.mark.parametrize(("how", "reason"), [
    ("truncated", "truncated"), ("bit_flip", "checksum mismatch"), ("garbage", "bad magic"),
])
def test_corrupt_artifact_is_reported_deleted_and_rebuilt(folder, how, reason):
    compile_fresh()
    (path,) = artifact_files(folder)
    _corrupt(path, how)
    events = Events()
    out, eager = compile_fresh()
    torch.testing.assert_close(out, eager, **TOL)
    warnings = [n["message"] for n in events.notices if n["severity"] == "warning"]
    assert any(path.name in m and reason in m and "Deleted" in m for m in warnings), warnings
    (rebuilt,) = artifact_files(folder)  # the compile that followed saved a good file again
    assert rebuilt.name == path.name and rebuilt.read_bytes()[:8] == b"ABCOMPIL"
    persist.forget_loaded()
    assert persist.load(ArtifactStore(folder), *_key_and_label(rebuilt)) is not None


def _key_and_label(path: Path) -> tuple[str, str]:
    """Key and label of a saved file (read from its header; the label is the file name's prefix)."""
    import struct

    blob = path.read_bytes()
    (key_len,) = struct.unpack_from("<I", blob, 10)
    return blob[14:14 + key_len].decode(), path.name.rsplit("-", 1)[0]


def test_file_for_another_key_or_unreadable_payload_is_rejected(folder):
    compile_fresh()
    (path,) = artifact_files(folder)
    key, label = _key_and_label(path)
    store = ArtifactStore(folder)

    store.write(key.replace('"dtype": "torch.float32"', '"dtype": "torch.float16"'), label, b"x")
    (tmp,) = [p for p in artifact_files(folder) if p != path]
    tmp.replace(path)  # a file saved under another key, at this key's name
    events = Events()
    persist.forget_loaded()
    assert persist.load(store, key, label) is None
    assert any("saved for another model" in n["message"] for n in events.notices)
    assert not path.exists()

    store.write(key, label, encode_bundle([b"these are not torch's artifacts"], []))  # valid file, bad payload
    persist.forget_loaded()
    assert persist.load(store, key, label) is None
    assert any("torch could not" in n["message"] for n in events.notices)
    assert not path.exists()


def test_no_save_when_persistence_is_off(folder):
    torch._dynamo.reset()
    model = build("flux")
    sample_short(compiled(model, save=False), "flux")
    assert artifact_files(folder) == []
