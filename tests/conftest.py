"""Shared test setup: the repo's dev packages importable, and the pack importable as `afterburner`.

The repo root is on sys.path through pyproject's `pythonpath`; see devtools/pack_import.py for why the
pack gets a package name of its own.
"""

from devtools.pack_import import register_pack

register_pack()
