"""Packaging facts the Registry and Manager rely on."""

import tomllib

from afterburner.py.version import __version__
from devtools.pack_import import REPO


def test_pyproject_version_and_registry_fields():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["name"] == "comfyui-afterburner"
    assert project["project"]["version"] == __version__
    comfy = project["tool"]["comfy"]
    assert comfy["DisplayName"] == "Afterburner" and comfy["PublisherId"] and comfy["requires-comfyui"]
    assert (REPO / comfy["Icon"]).exists()


def test_runtime_dependencies_leave_torch_to_comfyui():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not [d for d in deps if d.split("=")[0].split("<")[0].split(">")[0].strip() in
                {"torch", "torchvision", "torchaudio", "torchsde"}]


def test_pack_uses_only_relative_imports_of_itself():
    for path in [REPO / "__init__.py", REPO / "server_routes.py", *(REPO / "py").rglob("*.py")]:
        text = path.read_text()
        assert "import afterburner" not in text and "from afterburner" not in text, path
