# The README's commands. `make run` and `make test` set up everything they need.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# two pytest workers, each a whole module at a time (tests/conftest.py orders them); PYTEST_WORKERS= for one
PYTEST_WORKERS ?= -n 2 --dist loadfile
# a failed test runs once more and shows as R in the summary (known races: README, Tests); PYTEST_RERUNS= for none
PYTEST_RERUNS ?= --reruns 1 --reruns-delay 1
STAMP := $(VENV)/.installed

.PHONY: run demo test chromium container-tools proto proto-check proto-contract bench clean venv images

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

## unit + integration + browser tests (starts its own broker and Redis; the browser tests drive Debian's chromium)
test: $(STAMP) chromium container-tools
	$(BIN)/python -m pytest -p no:cacheprovider --durations=40 $(PYTEST_WORKERS) $(PYTEST_RERUNS) $(PYTEST_ARGS)

## Debian's chromium for the browser tests: installed with apt when missing (as root), else a message saying what to install
chromium:
	@bash tools/ensure-chromium.sh

## container images without a registry: itm-base:bookworm (debootstrap + docker import), itm:local
## (the Dockerfile, offline wheelhouse), itm-broker:local (Tansu), itm-redis:local; cached under .itm/images
images: $(STAMP) container-tools
	$(BIN)/python -m itm.containers.images

## Debian's docker.io, debootstrap and docker-compose for the container tests: installed with apt when
## missing (as root), else one line saying so (the container tests then skip; the rest runs)
container-tools:
	@bash tools/ensure-docker.sh

## regenerate the committed protobuf/gRPC Python from proto/
proto: $(STAMP)
	$(BIN)/python -m itm.protogen

## fail if the committed generated code differs from a fresh generation
proto-check: $(STAMP)
	$(BIN)/python -m itm.protogen --check

## buf lint and breaking-change check of proto/ against the previous release (also in `make test`)
proto-contract: $(STAMP)
	cd tools/buf && npm ci --no-audit --no-fund
	$(BIN)/python -m itm.protocheck

bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH)

## a chaos round over the embedded stack (docs/chaos.md); CHAOS_ARGS="--writes 20000 --faults full" for the full one
chaos: $(STAMP)
	$(BIN)/itm chaos $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .itm
