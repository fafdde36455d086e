# Two set-up commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# Two cores: pin every thread pool so encoders and BLAS do not oversubscribe.
export OMP_NUM_THREADS ?= 2
export OPENBLAS_NUM_THREADS ?= 2
export MKL_NUM_THREADS ?= 2
export NUMBA_NUM_THREADS ?= 2

.PHONY: install browser demo test lint audit bench-ingest bench-report clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: a bare `torch` pulls a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	# ray: the Ray engine's equivalence test (tests/test_ray_engine.py) runs in CI too.
	$(PIP) install -q -e ".[dev,ray]"
	touch $(STAMP)

install: $(STAMP)

# The report tests open reports in Debian's Chromium (never a browser Playwright downloads),
# with a CJK font so Chinese text renders in screenshots.
browser:
	test -x /usr/bin/chromium -a -d /usr/share/fonts/truetype/wqy || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei)

demo: $(STAMP)
	$(VENV)/bin/voc demo --serve

test: $(STAMP) browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) tools/audit.py
	$(PY) -m pytest -q

# Known vulnerabilities in the installed (pinned) packages; skipped with a message offline.
audit: $(STAMP)
	$(PY) tools/audit.py

lint: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench-ingest: $(STAMP)
	$(PY) -m bench.ingest

bench-report: $(STAMP) browser
	$(PY) -m bench.report

clean:
	rm -rf $(VENV) .voc .pytest_cache
