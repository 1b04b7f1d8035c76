"""pytest plugin (loaded with `-p devtools.pytest_layout`, see pyproject.toml).

The repo root is a ComfyUI custom-node package whose `__init__` only imports inside a running ComfyUI.
pytest would collect the root as a Package and import that `__init__`; collect it as a plain directory.
A conftest.py cannot do this: pytest would import it as part of the same package.
"""

from pathlib import Path

import pytest


def pytest_collect_directory(path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if path == Path(__file__).resolve().parent.parent:
        return pytest.Dir.from_parent(parent, path=path)
    return None
