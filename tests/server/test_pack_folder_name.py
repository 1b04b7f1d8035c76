"""ComfyUI imports a custom-node folder under its own (path-derived) name: the pack must not care."""

from __future__ import annotations

from pathlib import Path

from devtools.comfy_server import REPO, ComfyServer

ODD_NAME = "ComfyUI-Afterburner.main"  # a dash and a dot, as a clone or a Manager install may produce


def test_pack_registers_under_an_odd_folder_name(tmp_path: Path):
    custom_nodes = tmp_path / "custom_nodes"
    custom_nodes.mkdir()
    (custom_nodes / ODD_NAME).symlink_to(REPO, target_is_directory=True)
    config = tmp_path / "extra_model_paths.yaml"
    config.write_text(f"afterburner_test:\n    custom_nodes: {custom_nodes}\n")
    # The dev pack stays: its prestartup script is what lets torchvision import in this environment.
    packs = (ODD_NAME, "afterburner_devpack")
    with ComfyServer(packs=packs, extra_args=("--extra-model-paths-config", str(config))) as server:
        assert "AfterburnerAutoCache" in server.get_json("/object_info")
        assert server.get_json("/afterburner/health")["pack"] == "afterburner"
        import_lines = [line for line in server.log_text().splitlines() if line.rstrip().endswith(ODD_NAME)]
        assert import_lines and not any("IMPORT FAILED" in line for line in import_lines)
