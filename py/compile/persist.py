"""Persistent compiled code: which file belongs to a compiled model, and moving torch's caches in and out of it.

The key names everything that makes compiled code reusable: the model's class and a hash of its parameter
names, shapes and dtypes (not values: LoRA and fine-tunes of one architecture share compiled code), the
inference dtype, the device, torch's and triton's versions, and the compile settings. On load, torch's
mega-cache is hot-loaded into inductor's local caches and the bundled C++ kernel libraries are restored
into inductor's cache directory; compilation then still traces with dynamo, but skips code generation and
the C++/triton compilers. A file that is corrupt, truncated or written for another key is reported, deleted
and rebuilt on the next compile; nothing here raises into a sampling run.

One blob per save. torch's mega-cache records every artifact a compile writes or reads, and each
`save_cache_artifacts()` returns all of them so far, appended batch after batch; but loading folds those
batches into a dict by artifact type (torch 2.13, `CacheArtifactManager.deserialize`), so only the last
batch of each type survives. So after each save the recording is reset, the file keeps the blob of every
save, and loading loads each blob on its own: every compile's artifacts are in the file exactly once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import threading
from pathlib import Path

import torch

from ..telemetry import Notice, get_bus
from .artifacts import ArtifactError, ArtifactStore, decode_bundle, encode_bundle
from .config import CompileConfig

log = logging.getLogger("afterburner")
SOURCE = "compile"
MAX_BLOBS = 64  # saves kept per file, oldest dropped (each holds what one compile wrote or read)
_lock = threading.Lock()
_loaded: set[str] = set()  # keys already loaded in this process


def model_identity(diffusion_model: torch.nn.Module) -> str:
    """`<class>:<hash of parameter and buffer names, shapes and dtypes>`."""
    digest = hashlib.sha256()
    for name, tensor in (*diffusion_model.named_parameters(), *diffusion_model.named_buffers()):
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
    return f"{type(diffusion_model).__name__}:{digest.hexdigest()[:16]}"


def device_label(device: torch.device | str) -> str:
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(device)
        return f"cuda:{torch.cuda.get_device_name(device)}:sm{major}{minor}:cuda{torch.version.cuda}"
    if device.type == "cpu":
        try:
            capability = torch.backends.cpu.get_cpu_capability()
        except Exception:  # older torch
            capability = "unknown"
        return f"cpu:{platform.machine()}:{capability}"
    return device.type


def triton_version() -> str:
    try:
        import triton

        return str(triton.__version__)
    except Exception:  # not installed (CPU machines), or broken
        return "none"


def artifact_key(diffusion_model: torch.nn.Module, dtype: torch.dtype, device: torch.device | str,
                 config: CompileConfig) -> str:
    return json.dumps({"model": model_identity(diffusion_model), "dtype": str(dtype), "device": device_label(device),
                       "torch": torch.__version__, "triton": triton_version(), "compile": config.label()},
                      sort_keys=True)


# --- inductor's C++ kernels ----------------------------------------------------------------------------------

def _inductor_cache_dir() -> Path:
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    return Path(cache_dir())


def _loaded_kernel_keys() -> set[str]:
    """Keys of the C++ libraries inductor built or loaded in this process (every CppCodeCache flavour)."""
    from torch._inductor import codecache

    keys: set[str] = set()
    pending = [codecache.CppCodeCache]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        keys.update(getattr(cls, "cache", {}) or {})
    return keys


def collect_kernels() -> list[tuple[str, bytes]]:
    """The compiled C++ libraries this process uses, as (path in the cache dir, bytes); best effort.

    Libraries named after a loaded key, plus the small standalone probes inductor builds once per cache
    directory to pick the CPU's vector ISA (files without `.main`, a few KB each).
    """
    try:
        root = _inductor_cache_dir()
        keys = _loaded_kernel_keys()
        found = []
        for path in sorted(root.glob("??/*.so")):
            stem = path.name.split(".", 1)[0]
            if stem in keys or ".main" not in path.name:
                found.append((f"{path.parent.name}/{path.name}", path.read_bytes()))
        return found
    except Exception as err:  # private inductor layout: never fail a save over it
        log.debug("afterburner: could not collect compiled kernels: %s", err)
        return []


def restore_kernels(kernels: list[tuple[str, bytes]]) -> int:
    """Write kernel libraries that the cache directory lacks; returns how many were written."""
    root = _inductor_cache_dir()
    written = 0
    for rel, data in kernels:
        target = root / rel
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        written += 1
    return written


# --- load and save ------------------------------------------------------------------------------------------

def _reject(store: ArtifactStore, key: str, label: str, reason: str) -> None:
    name = store.path(key, label).name
    try:
        store.discard(key, label)
    except OSError as err:
        reason += f"; could not delete it: {err}"
    get_bus().emit(Notice("warning", SOURCE, f"compile artifacts {name}: {reason}. Deleted; the next compile "
                                             "rebuilds them."))
    log.warning("Afterburner compile: artifacts %s unusable (%s); deleted", name, reason)


def load(store: ArtifactStore, key: str, label: str) -> str | None:
    """Hot-load the artifacts saved under `key` (once per process). Returns what was loaded, or None."""
    with _lock:
        if key in _loaded:
            return None
        _loaded.add(key)
    try:
        payload = store.read(key, label)
        if payload is None:
            return None
        megas, kernels = decode_bundle(payload)
    except ArtifactError as err:
        _reject(store, key, label, str(err))
        return None
    except OSError as err:
        get_bus().emit(Notice("warning", SOURCE, f"could not read compile artifacts: {err}"))
        return None
    count = 0
    try:
        restored = restore_kernels(kernels)
        for mega in megas:
            info = torch.compiler.load_cache_artifacts(mega)
            if info is None:
                _reject(store, key, label, "torch could not read the cache artifacts")
                return None
            count += sum(len(v) for v in getattr(info, "artifacts", {}).values())
    except Exception as err:  # torch refuses bytes it cannot unpickle, or a version skew slipped through
        _reject(store, key, label, f"torch could not load them ({type(err).__name__}: {err})")
        return None
    message = (f"loaded {count} compiled artifacts and {restored} kernel libraries from "
               f"{store.path(key, label).name}")
    log.info("Afterburner compile: %s", message)
    return message


def _reset_recording() -> None:
    """Start torch's mega-cache recording afresh, so the next save holds only what later compiles use."""
    try:
        from torch.compiler._cache import CacheArtifactManager

        CacheArtifactManager.clear()
    except Exception as err:  # moved in another torch: saves then repeat earlier artifacts (bigger files)
        log.debug("afterburner: could not reset torch's cache artifact recording: %s", err)


def _saved_so_far(store: ArtifactStore, key: str, label: str) -> tuple[list[bytes], list[tuple[str, bytes]]]:
    """The blobs and kernels already in this key's file; nothing when there is no usable file."""
    try:
        payload = store.read(key, label)
        return decode_bundle(payload) if payload is not None else ([], [])
    except (ArtifactError, OSError):
        return [], []


def save(store: ArtifactStore, key: str, label: str) -> Path | None:
    """Add what torch compiled or loaded since the last save to `key`'s file; None when there is nothing."""
    try:
        saved = torch.compiler.save_cache_artifacts()
        if saved is None:
            return None
        mega, _info = saved
        _reset_recording()
        megas, kernels = _saved_so_far(store, key, label)
        if mega not in megas:
            megas.append(mega)
        merged = dict(kernels)
        merged.update(collect_kernels())
        path = store.write(key, label, encode_bundle(megas[-MAX_BLOBS:], sorted(merged.items())))
    except Exception as err:  # a full disk or a read-only models folder must not fail the run
        get_bus().emit(Notice("warning", SOURCE, f"could not save compile artifacts: {type(err).__name__}: {err}"))
        return None
    with _lock:
        _loaded.add(key)  # what is in the file is what this process has
    log.info("Afterburner compile: saved compiled artifacts to %s", path)
    return path


def forget_loaded() -> None:
    """Tests and benchmarks: let the next `load` read files again."""
    with _lock:
        _loaded.clear()
