# Set-up on a fresh machine is part of every target: a .venv with the CPU build of torch, then the package.
# Override the torch requirement with TORCH=..., e.g. `make run TORCH="torch==2.14.1"` or TORCH=torch.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test test-slow lint verify bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch first, so that the package's range (torch>=2.3) is already satisfied and pip pulls no CUDA build
$(VENV)/.torch: | $(BIN)/python
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# the peers the benchmarks compare against (PyHessian, torch-cka, WeightWatcher): without them the curvature benchmark
# times PyHessian's algorithm reimplemented, and the other two skip their comparison
$(VENV)/.installed-bench: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	touch $@ $(VENV)/.installed

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install --quiet -e ".[dev,ray,export,tensorboard,lightning,hf,docs]"
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/phenomena run grokking

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-slow: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

# every entry's quick preset and declared controls on held-out seeds 0-2 (tens of minutes on 2 cores)
verify: $(VENV)/.installed
	$(BIN)/phenomena verify --preset quick --seeds 3 -x process

# every script in benchmarks/ at scaled settings (a few minutes), ratio vs baseline (the peer packages themselves:
# the bench extra) and fraction of the GEMM peak;
# one summary table, also written to <store home>/benchmarks.json, which `phenomena report` shows
bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/run_all.py

# the documentation site in site/: pages in docs/, plus the catalog and CLI pages that docs/hooks.py generates from
# the code (it runs each entry's smoke preset once for its figure, about a minute; PHENOMENA_DOCS_FIGURES=0 skips it)
docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) phenomena-runs phenomena-report phenomena-export site .pytest_cache
