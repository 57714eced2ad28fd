# The two commands a newcomer runs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install tools demo test lint typecheck unit bench clean

# torch is pinned and installed first: sentence-transformers accepts any torch, and an
# unpinned one pulls gigabytes of CUDA packages; 2.13.0 resolves to a CPU wheel here.
TORCH ?= torch==2.13.0

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet '$(TORCH)'
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Local stand-ins for Azure services, used by the tests (they skip without them, except in
# CI): Azurite (Blob), a Cosmos DB-compatible server, rhea (an AMQP broker for Service Bus
# tests). From the npm registry, into .tools/ (not committed).
NPM_TOOLS := azurite@3.37.0 @vercel/cosmosdb-server@1.0.1 rhea@3.0.5
TOOLS_STAMP := .tools/.installed-$(shell echo '$(NPM_TOOLS)' | cksum | cut -d' ' -f1)

$(TOOLS_STAMP):
	@if command -v npm >/dev/null; then \
		npm install --prefix .tools --no-audit --no-fund --loglevel=error $(NPM_TOOLS) \
		&& touch $(TOOLS_STAMP); \
	else echo "npm not found: tests that need Azurite will be skipped"; fi

tools: $(TOOLS_STAMP)

demo: install
	$(BIN)/snitch demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install tools
	$(BIN)/pytest

test: lint typecheck unit

bench: install
	$(BIN)/python bench/newsletter_speed.py
	$(BIN)/python bench/lexrank_speed.py
	$(BIN)/python bench/desk_quality.py
	$(BIN)/python bench/llm_tokens.py
	$(BIN)/python bench/memory_throughput.py
	$(BIN)/python bench/factcheck_latency.py
	$(BIN)/python bench/interactions_serve.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
