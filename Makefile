# Every target installs what it needs first; `make install` is cheap when nothing changed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench golden clean fuzz

install: $(STAMP)

# torch and torchvision are pinned and installed first, so pip takes the builds the
# machine already has instead of resolving a multi-GB download through transformers.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet -e '.[train,dev]'
	touch $(STAMP)

# The bundled target_repo never changes: status and --dry-run only read it.
demo: install
	$(BIN)/refactor status target_repo
	$(BIN)/refactor apply target_repo --dry-run

test: install
	$(BIN)/python -m pytest -q

# Thousands of generated programs planted with the recipe's old names, migrated in a copy of
# target_repo (slow; `make test` runs a few hundred). Prints a summary line with the counts.
fuzz: install
	REFACTOR_FUZZ=1 $(BIN)/python -m pytest -q tests/test_fuzz.py $(FUZZ_ARGS)

lint: install
	$(BIN)/ruff check codemods tests

# Prints the table and writes bench-out/results.json; `make bench BENCH_ARGS=--quick` for a short run.
bench: install
	$(BIN)/python -m benchmarks.bench $(BENCH_ARGS)

# Regenerate the whole-repo golden tree (review the diff before committing it).
golden: install
	rm -rf tests/golden/migrated_target_repo
	tmp=$$(mktemp -d) && cp -r target_repo $$tmp/repo && \
	  find $$tmp/repo -name __pycache__ -prune -exec rm -rf {} + && git -C $$tmp/repo init -q && \
	  $(BIN)/refactor apply $$tmp/repo --allow-dirty --no-diff && rm -rf $$tmp/repo/.git && \
	  mkdir -p tests/golden && cp -r $$tmp/repo tests/golden/migrated_target_repo && rm -rf $$tmp

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
