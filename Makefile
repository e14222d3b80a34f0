# Every target installs what it needs first; `make install` is cheap when nothing changed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench clean

install: $(STAMP)

# torch and torchvision are pinned first so pip takes the local CPU-capable builds
# instead of resolving a multi-GB download through transformers' dependency tree.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet -e '.[train,dev]'
	touch $(STAMP)

demo: install
	$(BIN)/refactor apply target_repo --dry-run

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check codemods tests

bench: install
	$(BIN)/python -m codemods.bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
