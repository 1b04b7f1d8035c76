"""The pack's version, kept equal to pyproject.toml's by a unit test."""

__version__ = "0.1.0"
