# dualbeat developer entry points. `make demo` and `make test` set up everything they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: deps system-deps demo test unit sim chaos down clean dist

deps: system-deps $(VENV)/.installed

system-deps:
	@scripts/install-deps

# The lab (lab/: sandbox, chaos, drills, figures) is its own distribution, installed beside
# dualbeat in the same venv; it adds `dualbeat sandbox` and is never part of dualbeat's wheel.
$(VENV)/.installed: pyproject.toml lab/pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q -e ./lab
	touch $@

# A real pair in network namespaces: two mariadbd, dual-master replication, a client host.
demo: deps
	$(BIN)/python -m dualbeat_lab.sandbox.demo

# Lint (ruff), types (mypy --strict), unit and integration tests, in one pytest run; the run
# fails below 95 % branch coverage of dualbeat/core and the heartbeat codec ([tool.coverage]).
COV := --cov --cov-report=term-missing
test: deps
	DUALBEAT_REQUIRE_INTEGRATION=1 $(BIN)/pytest $(COV)

# Wheel, sdist, .deb, .rpm and zipapps of pyproject's version into dist/ (packaging/build).
dist: deps $(VENV)/.dist-installed
	PY=$(BIN)/python packaging/build

$(VENV)/.dist-installed: pyproject.toml
	$(BIN)/pip install -q -e '.[dist]'
	touch $@

unit: $(VENV)/.installed
	$(BIN)/pytest $(COV) tests/unit tests/test_gates.py tests/test_shape.py

# The simulator over more seeds than the default run (1,800 arbiter-mode + 200 classic):
# SEEDS arbiter-mode seeds in a process pool, and SEEDS/20 classic ones.
SEEDS ?= 100000
sim: $(VENV)/.installed
	DUALBEAT_SIM_SEEDS=$(SEEDS) $(BIN)/pytest -q tests/unit/test_core_sim_arbiter.py -k seeds
	DUALBEAT_SIM_CLASSIC_SEEDS=$$(( $(SEEDS) / 20 )) $(BIN)/pytest -q tests/unit/test_core_simulation.py

# Seeded chaos on a fresh sandbox pair (root): faults under three writers, then the checker.
# Exits 1 on a violation; the same SEED replays the same schedule. The lab is shared: lock it.
# ARBITER=1: a lab with an arbiter (the witness runs etcd).
SEED ?= 1
DURATION ?= 300
chaos: deps
	flock /tmp/dualbeat-sandbox.lock $(BIN)/python -m dualbeat_lab.chaos --seed $(SEED) \
		--duration $(DURATION) --json chaos-$(SEED).json $(if $(ARBITER),--arbiter)

down:
	$(BIN)/dualbeat sandbox down

clean: down
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
