# Two commands for a fresh machine: `make run` (install + the embedded default) and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
# Snakemake's rules call `python -m lra`: the virtualenv's python must come first on PATH.
export PATH := $(BIN):$(PATH)

.PHONY: install run test test-slurm lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: install
	$(BIN)/snakemake --cores all
	$(BIN)/lra show results/summary.tsv

test: install
	$(BIN)/python -m pytest -q

# The DAG on a one-node SLURM cluster started on this machine (root: installs slurm-wlm, munge).
test-slurm: install
	LRA_TEST_SLURM=1 $(BIN)/python -m pytest -q -s -m slurm

lint: install
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs .snakemake
