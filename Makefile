# The three commands a developer needs. Each sets up what is missing first (fast when already set up).
PY := .venv/bin/python
# `make compat COMFYUI_DIR=/path/to/ComfyUI`: a throwaway virtualenv for another ComfyUI, so .venv stays as it is.
COMPAT_VENV ?= /tmp/compat-venv

.PHONY: setup setup-test demo test test-py test-js lint run compat

setup:
	python3 scripts/setup_env.py

# The same set-up, and what only the tests need: npm and Chromium (installed with apt-get where we may) for the browser
# tests, comfy-cli for the registry-package test.
setup-test:
	python3 scripts/setup_env.py --test-tools

demo: setup
	$(PY) -m devtools.demo

lint: setup
	$(PY) -m ruff check .

test: setup-test
	$(PY) -m ruff check .
	.venv/bin/pytest  # not `python -m pytest`: that puts the repo root, and our py/, before pytest's `py`
	npm test
	npm run test:browser

run: setup
	$(PY) -m devtools.comfy_server --port 8188

# The pack on another ComfyUI tree (e.g. a newer upstream checkout): set-up against it in COMPAT_VENV, then the demo
# and `pytest tests/server tests/inprocess` on it, and a summary. See docs/compatibility.md.
compat:
	@test -n "$(COMFYUI_DIR)" || { echo "usage: make compat COMFYUI_DIR=/path/to/ComfyUI [COMPAT_VENV=$(COMPAT_VENV)]"; exit 2; }
	AFTERBURNER_VENV=$(COMPAT_VENV) COMFYUI_DIR=$(abspath $(COMFYUI_DIR)) python3 scripts/setup_env.py
	COMFYUI_DIR=$(abspath $(COMFYUI_DIR)) $(COMPAT_VENV)/bin/python -m devpack.compat
