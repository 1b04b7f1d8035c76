"""The compile-artifact file format: round trip, and every way a file can be unusable is detected with a reason
(truncated anywhere, any bit flipped, another key, another format version, not ours at all)."""

from __future__ import annotations

import struct

import pytest

from afterburner.py.compile.artifacts import (
    FORMAT_VERSION,
    MAGIC,
    SUFFIX,
    ArtifactError,
    ArtifactStore,
    decode_bundle,
    encode_bundle,
    file_name,
    pack,
    unpack,
)

KEY = '{"compile": "inductor/default/dynamic=auto/fullgraph=0/block", "model": "Flux:0123456789abcdef"}'
PAYLOAD = bytes(range(256)) * 5


def test_round_trip():
    blob = pack(KEY, PAYLOAD)
    assert blob.startswith(MAGIC) and unpack(blob, KEY) == PAYLOAD
    assert unpack(pack(KEY, b""), KEY) == b""


@pytest.mark.parametrize("length", [0, 5, 13, 14, 60, 150, 500, -1])
def test_truncated_file_is_detected(length):
    blob = pack(KEY, PAYLOAD)
    with pytest.raises(ArtifactError, match="truncated"):
        unpack(blob[:length], KEY)


def test_every_single_bit_flip_is_detected():
    blob = pack(KEY, PAYLOAD[:64])
    for position in range(len(blob)):
        for bit in (0, 7):
            flipped = bytearray(blob)
            flipped[position] ^= 1 << bit
            with pytest.raises(ArtifactError):
                unpack(bytes(flipped), KEY)


def test_bit_flip_in_the_payload_is_a_checksum_mismatch():
    blob = bytearray(pack(KEY, PAYLOAD))
    blob[-17] ^= 0x04
    with pytest.raises(ArtifactError, match="checksum"):
        unpack(bytes(blob), KEY)


def test_file_saved_under_another_key_is_refused():
    with pytest.raises(ArtifactError, match="another model"):
        unpack(pack(KEY.replace("Flux", "Wan"), PAYLOAD), KEY)


def test_other_format_version_and_foreign_files_are_refused():
    blob = bytearray(pack(KEY, PAYLOAD))
    struct.pack_into("<H", blob, len(MAGIC), FORMAT_VERSION + 1)
    with pytest.raises(ArtifactError, match="format version"):
        unpack(bytes(blob), KEY)
    with pytest.raises(ArtifactError, match="bad magic"):
        unpack(b"PK\x03\x04" + bytes(100), KEY)


def test_bundle_round_trip_and_unsafe_paths():
    kernels = [("ab/cabc.main.so", b"\x7fELF one"), ("th/cthd.so", b"\x7fELF two")]
    megas = [b"first save", b"", b"third save"]  # one torch mega-cache blob per save, order kept
    assert decode_bundle(encode_bundle(megas, kernels)) == (megas, kernels)
    assert decode_bundle(encode_bundle([], [])) == ([], [])
    for bad in ("../etc/passwd.so", "/abs/x.so", "ab/../../x.so", "ab/x.py", "abc/x.so"):
        with pytest.raises(ValueError):
            encode_bundle([], [(bad, b"")])
    forged = bytearray(encode_bundle([b"m"], [("ab/cabc.so", b"k")]))
    forged[:] = forged.replace(b'"ab/cabc.so"', b'"../cabc.so"')
    with pytest.raises(ArtifactError, match=r"malformed|unsafe"):
        decode_bundle(bytes(forged))
    with pytest.raises(ArtifactError, match="malformed"):
        decode_bundle(b"\x00\x01")
    with pytest.raises(ArtifactError, match="sizes"):
        decode_bundle(encode_bundle([b"mega"], []) + b"trailing")


def test_store_writes_atomically_reads_and_discards(tmp_path):
    store = ArtifactStore(tmp_path / "models" / "afterburner_compile")
    assert store.read(KEY, "Flux") is None  # no file yet: nothing to load, not an error
    path = store.write(KEY, "Flux", PAYLOAD)
    assert path.name == file_name(KEY, "Flux") and path.suffix == SUFFIX and path.name.startswith("Flux-")
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    assert store.read(KEY, "Flux") == PAYLOAD
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ArtifactError):
        store.read(KEY, "Flux")
    store.discard(KEY, "Flux")
    assert not path.exists() and store.read(KEY, "Flux") is None


def test_file_names_are_stable_per_key_and_safe():
    assert file_name(KEY, "Flux") == file_name(KEY, "Flux") != file_name(KEY + " ", "Flux")
    assert "/" not in file_name(KEY, "../evil/Model")
