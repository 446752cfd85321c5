# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench bench-quick bench-labels clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,hdf5]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/geoharmony demo --out demo_output

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

# Benchmarks run with a current numpy's own CPU kernels (see docs/performance.md).
BENCH_ENV := env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE

bench: $(STAMP)
	$(BENCH_ENV) $(BIN)/python bench/run.py
	$(BENCH_ENV) $(BIN)/python bench/loaders.py
	$(BENCH_ENV) $(BIN)/python bench/national.py --size 44
	$(BENCH_ENV) $(BIN)/python bench/region_labels.py

# A 300 Mpx region's conditioned D8 + accumulation: time and peak memory (~5 min, ~5.5 GiB).
bench-labels: $(STAMP)
	$(BENCH_ENV) $(BIN)/python bench/region_labels.py

bench-quick: $(STAMP)
	$(BENCH_ENV) $(BIN)/python bench/run.py --quick

clean:
	rm -rf $(VENV) demo_output .pytest_cache .mypy_cache .ruff_cache
