# The README's commands. `make run` and `make test` set up everything they need.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test proto proto-check bench clean venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev,embedded]'
	@touch $(STAMP)

venv: $(STAMP)

## run the whole platform on embedded defaults, stream notifications until Ctrl-C
run: $(STAMP)
	$(BIN)/itm dev up --seed-demo --follow

## headless scripted scenario; exits 0 only if the notification arrived
demo: $(STAMP)
	$(BIN)/itm demo

## unit + integration tests (starts its own broker and Redis)
test: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

## regenerate the committed protobuf/gRPC Python from proto/
proto: $(STAMP)
	$(BIN)/python -m itm.protogen

## fail if the committed generated code differs from a fresh generation
proto-check: $(STAMP)
	$(BIN)/python -m itm.protogen --check

bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH)

clean:
	rm -rf $(VENV) .itm
