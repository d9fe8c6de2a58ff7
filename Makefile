# Two commands on a fresh machine: `make demo` and `make test`. Both use .venv at the repo root.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow test-oldest bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# no pip cache: torch's CUDA wheels are ~4.7 GB, and a cached copy doubles the disk the install
	# needs (a CI run ran out of space during the install on 2026-12-03)
	$(PY) -m pip install -q --no-cache-dir -c constraints.txt -e ".[all]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/worksheet_alexnet.py

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

# The oldest supported torch (constraints-oldest.txt), in a venv of its own outside the repo
# (about 5 GB; not part of CI): tests of newer features are skipped there by name.
OLDEST_VENV ?= /tmp/torchcount-oldest
test-oldest:
	test -x $(OLDEST_VENV)/bin/python || $(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install -q --upgrade pip
	$(OLDEST_VENV)/bin/python -m pip install -q -c constraints-oldest.txt -e ".[vision,audio,plot,test]"
	$(OLDEST_VENV)/bin/python -m pytest -q -rs

clean:
	rm -rf $(VENV) build *.egg-info
