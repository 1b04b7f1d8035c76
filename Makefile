# The three commands a developer needs. Each sets up what is missing first (fast when already set up).
PY := .venv/bin/python

.PHONY: setup demo test test-py test-js lint run

setup:
	python3 scripts/setup_env.py

demo: setup
	$(PY) -m devtools.demo

lint: setup
	$(PY) -m ruff check .

test: setup lint
	.venv/bin/pytest  # not `python -m pytest`: that puts the repo root, and our py/, before pytest's `py`
	npm test
	npm run test:browser

run: setup
	$(PY) -m devtools.comfy_server --port 8188
