# BERT for e-commerce search and recommendation. Every target is listed here
# (tests/test_packaging.py checks it). The three commands (README.md):
#   make lab        open the course in JupyterLab (with nbgrader's extensions)
#   make course     run every lesson headless (offline, CPU, packaged MiniLM) and print the metrics
#   make test       run the whole test suite, as CI does
# For instructors (INSTRUCTORS.md):
#   make release    regenerate notebooks/ from solutions/ (course release)
#   make grade      autograde every submission of a lesson: make grade LESSON=00-course-map
#   make analytics  the grade analytics report of the gradebook (course analytics)
#   make book       the course as a static website (build/book/site/), after make course
# For developers (CONTRIBUTING.md):
#   make test-fast  the unit tests only (no notebooks, grading round trips, browser, torchrun)
#   make lint       ruff, mypy and the layer contracts (lint-imports), as CI runs them
#   make lock       pin every installed version in constraints.txt and write environment.yml
#   make hub        a class on JupyterHub on this machine (as root; classroom/README.md)
#   make proxy      install JupyterHub's proxy (configurable-http-proxy, from npm) for make hub
#   make venv       create or update .venv (every target above does it by itself)
#   make clean      remove build/, autograded/, feedback/ and .pytest_cache/
# Each target creates or updates .venv by itself; it reinstalls only when
# pyproject.toml or constraints.txt change. Options: PROFILE=smoke|cpu|full (make course,
# make book), ONLINE=1 (make course), LESSON=... (make grade), PYTEST_ARGS=... (make test).

PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed
# torch is pinned in the same pip command as everything else, so pip never
# resolves a multi-GB CUDA build on a CPU machine.
TORCH  := torch==2.13.0
PROFILE ?= cpu
# make grade needs LESSON=<lesson>; these are the lessons it can name.
LESSONS := $(sort $(notdir $(patsubst %/,%,$(dir $(wildcard solutions/*/*.ipynb)))))
# Tests run in three processes of one thread each (papermill and nbgrader kernels inherit it):
# on CI's two cores a third keeps both busy while a worker waits on a server, a browser or a
# lock (BENCHMARKS.md, "The test suite and CI").
TEST_WORKERS ?= 3

export PATH := $(BIN):$(PATH)
export TOKENIZERS_PARALLELISM ?= false
export MPLBACKEND ?= Agg

.PHONY: lab course test test-fast release grade analytics lint lock clean venv book hub proxy

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt "$(TORCH)" -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps -c constraints.txt ngshare-exchange
	touch $(STAMP)

# .jupyter/ holds the course's JupyterLab settings (no news pop-up); the user's own config wins.
lab: $(STAMP)
	@$(BIN)/course mindmap fonts
	JUPYTER_CONFIG_PATH=$(CURDIR)/.jupyter$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH)) \
	MPLBACKEND=module://matplotlib_inline.backend_inline $(BIN)/jupyter lab --notebook-dir=$(CURDIR) \
		$(if $(filter 0,$(shell id -u)),--allow-root,) notebooks/00-course-map/00-course-map.ipynb

course: $(STAMP)
	$(BIN)/course run --profile $(PROFILE) $(if $(ONLINE),--online,)

# The lessons as trainees get them (notebooks/) as one website, with the outputs make course
# left in build/PROFILE/ (a lesson without them has its release executed into build/release/).
book: $(STAMP)
	$(BIN)/course book --profile $(PROFILE)

test: $(STAMP)
	COURSE_PROFILE=smoke HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest \
		-n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# Markers (pyproject.toml) say what a test costs; this tier leaves out every marked test.
FAST_TESTS := not (slow or browser or rehearsal or distributed or hub)

test-fast: $(STAMP)
	COURSE_PROFILE=smoke HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest \
		-n $(TEST_WORKERS) --dist loadscope -m "$(FAST_TESTS)" $(PYTEST_ARGS)

# configurable-http-proxy, JupyterHub's proxy, from npm (pinned in classroom/proxy/) into
# classroom/proxy/node_modules/. Without npm, root gets Debian's nodejs and npm first.
PROXY := classroom/proxy/node_modules/.bin/configurable-http-proxy
proxy: $(PROXY)

$(PROXY): classroom/proxy/package.json classroom/proxy/package-lock.json
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  echo "installing Debian's nodejs and npm" && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    nodejs npm >/dev/null; } || { echo "make proxy needs npm: apt-get install nodejs npm"; exit 1; }
	npm ci --prefix classroom/proxy --no-audit --no-fund --loglevel=error
	touch $(PROXY)

# A class on JupyterHub on this machine, as root: HUB_ARGS="--roster class.csv" (course hub --help).
hub: $(STAMP) $(PROXY)
	$(BIN)/course hub $(HUB_ARGS)

release: $(STAMP)
	$(BIN)/course release

grade: $(STAMP)
	@if [ -z "$(LESSON)" ]; then \
	  echo "make grade: say which lesson to grade: make grade LESSON=<lesson>, one of:" >&2; \
	  for lesson in $(LESSONS); do echo "  $$lesson" >&2; done; \
	  exit 2; \
	fi
	$(BIN)/course grade $(LESSON)

analytics: $(STAMP)
	$(BIN)/course analytics

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Regenerate the lock from the current environment (after changing pyproject.toml), then the
# trainees' conda environment from the same pins (course.authoring.environment).
lock: $(STAMP)
	{ echo "# Exact versions known to work (Python $$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])'), Linux x86_64, CPU). Generated with pip freeze;"; \
	  echo "# used as a pip constraints file by the Makefile: make lock regenerates it."; \
	  $(BIN)/python -m pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > constraints.txt
	$(BIN)/python -m course.authoring.environment

clean:
	rm -rf build autograded feedback .pytest_cache
