"""The on-disk format of saved compile artifacts, and the folder that holds them.

A file is a small header, the key it was saved under, and a payload:

    magic "ABCOMPIL" | format version (u16) | key length (u32) | key (utf-8) |
    payload length (u64) | sha256 of key + payload (32 bytes) | payload

so a truncated, bit-flipped, foreign or stale file is recognised before anything reads the payload. The
payload is a bundle: a JSON index, torch mega-cache blobs (`torch.compiler.save_cache_artifacts`, one per
save) and the compiled C++ kernel libraries inductor built on CPU (the mega-cache carries only their sources
there, so a fresh cache directory would rebuild every kernel with the C++ compiler).

Nothing here imports ComfyUI: the folder is resolved through `folder_paths` only when asked for.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import tempfile
from pathlib import Path

MAGIC = b"ABCOMPIL"
FORMAT_VERSION = 1
FOLDER_NAME = "afterburner_compile"
SUFFIX = ".abcache"
_HEAD = struct.Struct("<8sHI")  # magic, format version, key length
_BODY = struct.Struct("<Q32s")  # payload length, sha256
_INDEX_LEN = struct.Struct("<I")
# A kernel file inside inductor's cache directory: "<2 chars>/<name>.so", nothing that could climb out.
_KERNEL_PATH = re.compile(r"^[A-Za-z0-9_]{2}/[A-Za-z0-9_][A-Za-z0-9_.\-]*\.so$")


class ArtifactError(ValueError):
    """A saved artifact file that cannot be used; the message says why."""


def _digest(key: bytes, payload: bytes) -> bytes:
    return hashlib.sha256(key + payload).digest()


def pack(key: str, payload: bytes) -> bytes:
    """One artifact file's bytes."""
    raw_key = key.encode()
    return b"".join((_HEAD.pack(MAGIC, FORMAT_VERSION, len(raw_key)), raw_key,
                     _BODY.pack(len(payload), _digest(raw_key, payload)), payload))


def unpack(blob: bytes, key: str) -> bytes:
    """The payload of a file saved under `key`; ArtifactError when it is not exactly that."""
    if len(blob) < _HEAD.size:
        raise ArtifactError(f"truncated: {len(blob)} bytes is shorter than the header")
    magic, version, key_len = _HEAD.unpack_from(blob)
    if magic != MAGIC:
        raise ArtifactError("not an Afterburner compile artifact (bad magic)")
    if version != FORMAT_VERSION:
        raise ArtifactError(f"format version {version}, this Afterburner reads version {FORMAT_VERSION}")
    offset = _HEAD.size
    if len(blob) < offset + key_len + _BODY.size:
        raise ArtifactError("truncated inside the header")
    raw_key = blob[offset:offset + key_len]
    offset += key_len
    length, digest = _BODY.unpack_from(blob, offset)
    offset += _BODY.size
    payload = blob[offset:]
    if len(payload) != length:
        raise ArtifactError(f"truncated: payload has {len(payload)} of {length} bytes")
    if _digest(raw_key, payload) != digest:
        raise ArtifactError("checksum mismatch (the file is corrupt)")
    if raw_key != key.encode():
        raise ArtifactError("saved for another model, dtype, device, torch version or compile setting")
    return payload


def encode_bundle(megas: list[bytes], kernels: list[tuple[str, bytes]]) -> bytes:
    """Payload: torch mega-cache blobs (one per save, see persist.py) plus kernel files as (path inside inductor's
    cache dir, bytes)."""
    for path, _ in kernels:
        if not _KERNEL_PATH.match(path):
            raise ValueError(f"not a kernel path inside the cache directory: {path!r}")
    index = json.dumps({"megas": [len(mega) for mega in megas],
                        "kernels": [[path, len(data)] for path, data in kernels]}).encode()
    return b"".join((_INDEX_LEN.pack(len(index)), index, *megas, *(data for _, data in kernels)))


def decode_bundle(payload: bytes) -> tuple[list[bytes], list[tuple[str, bytes]]]:
    """Inverse of `encode_bundle`; ArtifactError on anything malformed (including unsafe paths)."""
    try:
        (index_len,) = _INDEX_LEN.unpack_from(payload)
        index = json.loads(payload[_INDEX_LEN.size:_INDEX_LEN.size + index_len])
        offset = _INDEX_LEN.size + index_len
        megas = []
        for size in index["megas"]:
            megas.append(payload[offset:offset + int(size)])
            offset += int(size)
        kernels = []
        for path, size in index["kernels"]:
            if not isinstance(path, str) or not _KERNEL_PATH.match(path):
                raise ArtifactError(f"unsafe kernel path {path!r}")
            kernels.append((path, payload[offset:offset + int(size)]))
            offset += int(size)
    except ArtifactError:
        raise
    except (struct.error, ValueError, KeyError, TypeError) as err:
        raise ArtifactError(f"malformed bundle ({type(err).__name__})") from None
    if offset != len(payload):
        raise ArtifactError("malformed bundle (sizes do not add up)")
    return megas, kernels


def file_name(key: str, label: str) -> str:
    """A readable, key-specific file name: `<model class>-<hash of the key>.abcache`."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", label)[:64] or "model"
    return f"{safe}-{hashlib.sha256(key.encode()).hexdigest()[:20]}{SUFFIX}"


class ArtifactStore:
    """Artifact files in one folder; writes are atomic (a crash never leaves half a file under the name)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def path(self, key: str, label: str) -> Path:
        return self.folder / file_name(key, label)

    def write(self, key: str, label: str, payload: bytes) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(key, label)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=SUFFIX)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pack(key, payload))
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def read(self, key: str, label: str) -> bytes | None:
        """The payload, None when there is no file; ArtifactError (file left in place) when it is unusable."""
        target = self.path(key, label)
        try:
            blob = target.read_bytes()
        except FileNotFoundError:
            return None
        return unpack(blob, key)

    def discard(self, key: str, label: str) -> None:
        self.path(key, label).unlink(missing_ok=True)


def register_folder() -> list[str]:
    """Register `models/afterburner_compile` with ComfyUI (once) and return the folder list, first one used.

    A folder the user configured (extra_model_paths.yaml) comes first and is where files are written.
    """
    import folder_paths

    folder_paths.add_model_folder_path(FOLDER_NAME, os.path.join(folder_paths.models_dir, FOLDER_NAME))
    return folder_paths.get_folder_paths(FOLDER_NAME)


def default_store() -> ArtifactStore:
    return ArtifactStore(register_folder()[0])
