# `make run` and `make test` set everything up on first use; see the README.
PORT ?= 5000
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# The Python the site runs on Heroku, from .python-version (the pins are made
# for it): python3.13 on the PATH, else pyenv's (which reads .python-version),
# else python3 if it is that version. PYTHON=… names one outright.
PYTHON_VERSION := $(shell cat .python-version)
IS_PYTHON_VERSION := -c 'import sys; sys.exit(f"{sys.version_info[0]}.{sys.version_info[1]}" != "$(PYTHON_VERSION)")'
ifndef PYTHON
PYTHON := $(shell for python in python$(PYTHON_VERSION) "$$(pyenv which python 2>/dev/null)" python3; do \
  "$$python" $(IS_PYTHON_VERSION) 2>/dev/null && command -v "$$python" && break; done)
endif
LOCK := $(BIN)/pip-compile --quiet --strip-extras --no-header --no-emit-index-url --no-emit-find-links
# The Procfile's web line, run exactly as a dyno runs it.
WEB := $(shell sed -n 's/^web:[[:space:]]*//p' Procfile)

.PHONY: run test test-fast lint format check geodata lock upgrade bench bench-workers profile screenshots mutants clean

# A .venv made with another Python (or by an older Makefile) is made again.
$(VENV)/.python-$(PYTHON_VERSION):
	@"$(PYTHON)" $(IS_PYTHON_VERSION) 2>/dev/null || { echo "make needs Python \
	$(PYTHON_VERSION) (.python-version, as on Heroku)$(if $(PYTHON),; $(PYTHON) is not it,; none was found). \
	Install it (apt install python$(PYTHON_VERSION), brew install python@$(PYTHON_VERSION) or \
	pyenv install $(PYTHON_VERSION)) or name it: make PYTHON=/path/to/python$(PYTHON_VERSION)" >&2; exit 1; }
	rm -rf $(VENV)
	"$(PYTHON)" -m venv $(VENV)
	touch $@

$(VENV)/.site: requirements.txt $(VENV)/.python-$(PYTHON_VERSION)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.site requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# STATIC_AUTOREFRESH: edits to static/ show on the next reload.
run: $(VENV)/.site
	PATH="$(BIN):$$PATH" PORT=$(PORT) STATIC_AUTOREFRESH=1 bash -c '$(WEB)'

# Style, types (strict on the package) and the layers' import contracts.
lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: lint
	$(BIN)/pytest

# The unit and test-client layers alone: no daemon, no server, no browser.
test-fast: $(VENV)/.dev
	$(BIN)/pytest tests/unit tests/client

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# A deployed instance, checked the way an operator would after `git push heroku`.
check: $(VENV)/.site
	$(BIN)/python tools/deploy_check.py $(URL)

# The location database (DB-IP's IP to City Lite, CC BY 4.0) into GEO_DB, as
# bin/post_compile does on Heroku; run it again monthly for a fresh one.
geodata: $(VENV)/.site
	$(BIN)/python -m whatismyip.geodata

# Pin what each .in file asks for; `upgrade` moves every pin to the newest release.
LOCKED := requirements requirements-dev

lock: $(VENV)/.dev
	for name in $(LOCKED); do $(LOCK) $$name.in -o $$name.txt || exit 1; done

upgrade: $(VENV)/.dev
	for name in $(LOCKED); do $(LOCK) --upgrade $$name.in -o $$name.txt || exit 1; done

# The site against its baselines (needs wrk, dnsmasq-base, redis-server and openssl from
# Debian); see the README.
bench: $(VENV)/.dev
	$(BIN)/python tools/bench/bench.py

# The worker-class comparison behind gunicorn.conf.py's choice.
bench-workers: $(VENV)/.dev
	$(BIN)/python tools/bench/bench.py --worker-classes

# Where a worker spends its time under load, as a flame graph (needs wrk).
profile: $(VENV)/.dev
	$(BIN)/python tools/bench/profile.py

# The README's pictures of the page, from the site booted as on a dyno (needs
# Chromium, and fonts-noto-color-emoji for the flag).
screenshots: $(VENV)/.dev
	$(BIN)/python tools/screenshots.py

# Mutation testing, slow and not part of `make test`: mutmut changes one line
# of the package at a time and runs the tests that cover it (docs/mutants.md).
# It works in a private copy of the tree, whose path it prints, so that
# `mutmut show NAME` can be run there.
mutants: $(VENV)/.dev
	@copy=$$(mktemp -d) && git ls-files -z | xargs -0 cp --parents -t "$$copy" \
	  && ln -s "$(CURDIR)/$(VENV)" "$$copy/$(VENV)" && cd "$$copy" \
	  && echo "mutating a copy in $$copy" \
	  && $(BIN)/mutmut run --max-children 2 | tr '\r' '\n' | grep -v '^ *$$' | tail -n 3 \
	  && $(BIN)/mutmut results

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
