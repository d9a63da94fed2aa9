# Two commands for a fresh machine: `make run` (install + the embedded default) and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
# Snakemake's rules call `python -m lra`: the virtualenv's python must come first on PATH.
export PATH := $(BIN):$(PATH)

.PHONY: install run report test test-report test-slurm lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: install
	$(BIN)/snakemake --cores all
	$(BIN)/lra show --who-won results/summary_mean.tsv
	@$(MAKE) --no-print-directory -o install report

# Snakemake's HTML report of the run (figures, captions, one category per run), written under a
# temporary name and renamed: a failed report never replaces a good one with half a file.
REPORT := results/report.html
report: install
	$(BIN)/snakemake --report results/.report.tmp.html
	mv results/.report.tmp.html $(REPORT)
	@echo "HTML report: $(CURDIR)/$(REPORT)"

test: install
	$(BIN)/python -m pytest -q

# The DAG on a one-node SLURM cluster started on this machine (root: installs slurm-wlm, munge).
test-slurm: install
	LRA_TEST_SLURM=1 $(BIN)/python -m pytest -q -s -m slurm

# The report in headless Chromium (Debian's package, installed when missing: root), saved as
# screenshots of its landing page and of the first run's label-issue gallery.
test-report: install
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium)
	$(BIN)/snakemake --cores all
	@$(MAKE) --no-print-directory -o install report
	$(BIN)/python tests/report_screenshot.py $(REPORT) results/report

lint: install
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs .snakemake
