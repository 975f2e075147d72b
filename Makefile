# adlib study book. `make book` executes every chapter and builds the site; `make test` runs
# the unit tests plus every chapter under the smoke profile and a -W build of the result.
#
#   make book                    quick profile (embedded data, 2-core CPU, minutes)
#   make book PROFILE=paper      papers' datasets and iterations (GPU)
#   make book PROFILE=real ADLIB_DATA=../shared/data   every MVTec-layout category there (CPU)
#   make book ADLIB_DATA=/data   also use real data found there (MVTec-layout folders, MNIST, ...)
#
# Make's own dependency tracking (chapter source, its params file, adlib sources, profile and
# ADLIB_DATA) decides what re-executes: an unchanged second `make book` only re-renders.

PROFILE ?= quick
PROFILES := $(sort $(notdir $(wildcard notebooks/params/*)))
# A mistyped profile must stop here: without its params folder make would find no rule for
# the notebooks and present the previous profile's as up to date.
ifeq ($(filter $(PROFILE),$(PROFILES)),)
$(error PROFILE=$(PROFILE) is not a profile; choose one of: $(PROFILES) (folders of notebooks/params/))
endif
ADLIB_DATA ?=
VENV ?= .venv
PYTHON := $(VENV)/bin/python
ENV_STAMP := $(VENV)/.adlib-installed
GEN := book/generated
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

CHAPTERS := $(sort $(basename $(notdir $(wildcard notebooks/*.py))))
EXECUTED := $(CHAPTERS:%=$(GEN)/%.ipynb)
ADLIB_SOURCES := $(shell find adlib -name '*.py' 2>/dev/null)
RUN_CONFIG := $(GEN)/.run-config
# Widget and MathJax JavaScript served from the site itself, so pages work offline.
WIDGETS_DIR := book/_static/widgets
MATHJAX_DIR := book/_static/mathjax
WEB_ASSETS := $(WIDGETS_DIR)/embed-amd.js $(WIDGETS_DIR)/require.js $(MATHJAX_DIR)/tex-mml-chtml.js
NPM_PACKAGES := @jupyter-widgets/html-manager@1.0.15 requirejs@2.3.8 mathjax@3.2.2
NPM := build/npm/node_modules

export ADLIB_DATA

.PHONY: all book execute env test speed clean distclean FORCE
.DELETE_ON_ERROR:

.DEFAULT_GOAL := all

env: $(ENV_STAMP)

$(ENV_STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet $(TORCH_PINS)
	$(PYTHON) -m pip install --quiet -e '.[book,test,scale]'
	touch $@

# Two builds at once in one clone (say with different ADLIB_DATA) would interleave: one rewrites
# .run-config while the other's chapters run, and the notebooks end up holding other data than
# .run-config says. So a goal that executes chapters re-runs this make under one lock, and a
# second build stops at once naming the lock.
BUILD_LOCK := $(GEN)/.build.lock
LOCKED_GOALS := all book execute
ifeq ($(ADLIB_BUILD_LOCKED)$(filter-out $(LOCKED_GOALS),$(or $(MAKECMDGOALS),all)),)
$(LOCKED_GOALS):
	@mkdir -p $(GEN); flock -n -E 75 $(BUILD_LOCK) $(MAKE) --no-print-directory ADLIB_BUILD_LOCKED=1 $@; rc=$$?; \
	  if [ $$rc = 75 ]; then echo "make $@: another build holds $(BUILD_LOCK) in this folder; wait for it to finish (or build in another clone)" >&2; fi; \
	  exit $$rc
else
all: book

# Rewritten only when the profile, the data folder or what is in it (adlib.fingerprint: file
# names, sizes, mtimes) changes, so it re-executes chapters then.
$(RUN_CONFIG): FORCE
	@mkdir -p $(GEN)
	@echo "PROFILE=$(PROFILE) ADLIB_DATA=$(ADLIB_DATA) data=$$(python3 -m adlib.fingerprint '$(ADLIB_DATA)')" > $@.new
	@if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi

$(GEN)/%.ipynb: notebooks/%.py notebooks/params/$(PROFILE)/%.yaml $(ADLIB_SOURCES) $(RUN_CONFIG) | $(ENV_STAMP)
	$(PYTHON) -m adlib.execute $* --profile $(PROFILE) --out $(GEN)

execute: $(EXECUTED)

$(WEB_ASSETS) &:
	npm install --prefix build/npm --no-audit --no-fund --no-save --silent $(NPM_PACKAGES)
	rm -rf $(WIDGETS_DIR) $(MATHJAX_DIR)
	mkdir -p $(WIDGETS_DIR)/@jupyter-widgets/html-manager/dist $(MATHJAX_DIR)/output/chtml $(MATHJAX_DIR)/input/tex
	cp $(NPM)/@jupyter-widgets/html-manager/dist/embed-amd.js $(NPM)/requirejs/require.js $(WIDGETS_DIR)/
	# icon fonts, where the widget manager's modules look for them
	for d in $(WIDGETS_DIR)/@jupyter-widgets $(WIDGETS_DIR)/@jupyter-widgets/html-manager/dist; do \
	  cp $(NPM)/@jupyter-widgets/html-manager/dist/*.woff* $(NPM)/@jupyter-widgets/html-manager/dist/*.ttf $$d/; done
	cp $(NPM)/mathjax/es5/tex-mml-chtml.js $(MATHJAX_DIR)/
	cp -r $(NPM)/mathjax/es5/output/chtml/fonts $(MATHJAX_DIR)/output/chtml/
	cp -r $(NPM)/mathjax/es5/input/tex/extensions $(MATHJAX_DIR)/input/tex/

# Pages generated from adlib's dataset registry and from every chapter's results.json.
OVERVIEW_CODE := adlib/overview.py adlib/kept_runs.py adlib/claims.py adlib/tables.py
$(GEN)/data.md: $(wildcard adlib/data/*.py) adlib/data_page.py adlib/tables.py adlib/plots.py adlib/benchmark.py $(RUN_CONFIG) | $(ENV_STAMP)
	$(PYTHON) -m adlib.data_page $@

$(GEN)/results.md: $(EXECUTED) $(OVERVIEW_CODE) | $(ENV_STAMP)
	$(PYTHON) -m adlib.overview results $(GEN) $@

# The intro's short answer (book/intro.md includes it), from the same results.json files.
$(GEN)/answer.md: $(EXECUTED) $(OVERVIEW_CODE) | $(ENV_STAMP)
	$(PYTHON) -m adlib.overview answer $(GEN) $@

book: $(EXECUTED) $(GEN)/data.md $(GEN)/results.md $(GEN)/answer.md $(WEB_ASSETS) | $(ENV_STAMP)
	$(VENV)/bin/jupyter-book build -W --keep-going .
	@echo "book: $(CURDIR)/_build/html/index.html"
endif

# The browser test drives Debian's chromium (no browser download); install it when missing.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	-(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	  || echo "could not install chromium (needs root): tests/test_browser.py will be skipped"

test: $(ENV_STAMP) $(CHROMIUM)
	$(PYTHON) -m pytest

# Speed figures (model steps, k-NN, encoder-only scoring, chapter wall times vs targets).
speed: $(ENV_STAMP)
	$(PYTHON) bench/speed.py

clean:
	rm -rf _build $(GEN) $(WIDGETS_DIR) $(MATHJAX_DIR) build/npm

distclean: clean
	rm -rf $(VENV) *.egg-info
