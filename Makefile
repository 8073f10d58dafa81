# LiveWebsocket — the two commands: `make dev` (run everything) and `make test` (test everything).
# Both install what they need: uv (into .tools/ when not on PATH), the locked Python
# workspace, the web app's npm packages and, for tests, nginx and Chromium.

SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
# Tests and scripts find the tools installed here (uv in .tools/bin) like any on PATH.
export PATH := $(PATH):$(CURDIR)/.tools/bin
PYTHON ?= python3
NPM_CI := npm ci --no-audit --no-fund --loglevel=error
SRC_DIRS := libs/common/src services/auth/src services/marketdata/src services/gateway/src tools/fyers-emulator/src tools/devtools/src
NODE_DIRS := web services/gateway/tests/node tools/spec-check

.PHONY: dev test test-compact test-cluster test-sentinel lint typecheck fmt bench soak load sync node-deps system-deps ci clean audit images compose-test

.tools/bin/uv:
	$(PYTHON) -m venv .tools && .tools/bin/pip install -q uv

sync: | $(UV)
	$(UV) sync --all-packages --frozen --quiet

node-deps:
	@for d in $(NODE_DIRS); do \
	  if [ -f $$d/package-lock.json ] && [ ! -d $$d/node_modules ]; then (cd $$d && $(NPM_CI)) || exit 1; fi; \
	done

system-deps:
	@scripts/system-deps.sh

dev: sync
	$(UV) run livews-dev

test: sync node-deps system-deps
	$(UV) run pytest
	@if [ -f web/package.json ]; then cd web && npm test --silent; fi

# The fleet end-to-end tests with every RecordingClient on the compact encoding (issue #17,
# docs/compact-encoding.md "Testing"; the dashboard e2e already runs both encodings). The
# whole of tests/e2e takes too long a fourth time in CI, so this is the fault, bars and
# client-example tests, the hostile-client and abuse tests, and the recorder's own test.
COMPACT_TESTS ?= tests/test_recorder_format.py tests/test_topologies.py \
	tests/e2e/test_faults_infra.py tests/e2e/test_faults_upstream.py tests/e2e/test_bars.py \
	tests/e2e/test_clients.py $(wildcard tests/e2e/test_hostile_*.py) tests/e2e/test_abuse.py
test-compact: sync node-deps system-deps
	LIVEWS_TEST_FORMAT=compact $(UV) run pytest $(COMPACT_TESTS)

# The whole-fleet end-to-end suite on a local 3x2 Redis Cluster / a Sentinel-managed primary
# (2 replicas, 3 Sentinels) instead of one Redis (issue #14, docs/operations.md "Redis
# topologies"); each topology's own fault tests run there and skip elsewhere.
TOPOLOGY_TESTS ?= tests/test_topologies.py tests/e2e
test-cluster: sync node-deps system-deps
	LIVEWS_TEST_REDIS=cluster $(UV) run pytest $(TOPOLOGY_TESTS)

test-sentinel: sync node-deps system-deps
	LIVEWS_TEST_REDIS=sentinel $(UV) run pytest $(TOPOLOGY_TESTS) \
	  $(wildcard tests/test_sentinel_harness.py)

lint: sync node-deps
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	@if [ -f web/package.json ]; then cd web && npm run --silent typecheck; fi

typecheck: sync
	$(UV) run mypy $(SRC_DIRS)

fmt: sync
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

bench: sync node-deps system-deps
	$(UV) run python bench/run_all.py

soak: sync system-deps
	$(UV) run python bench/soak.py

load: sync system-deps
	$(UV) run python bench/load.py

# Known-vulnerable locked versions (uv.lock via pip-audit, every package-lock via npm audit):
# fails on a finding; an advisory source that cannot be reached is reported, not failed.
audit: | $(UV)
	UV=$(UV) $(PYTHON) scripts/audit.py

ci: lint typecheck audit test

# Every image (livews/{auth,gateway,marketdata,fyers-emulator,web}:dev) with podman, or docker
# where podman is absent; prints each image's size. Where public base images cannot be pulled,
# builds local Debian bases first (scripts/local-base.sh). docs/operations.md, "Images".
images:
	@scripts/images.sh

# The docker-compose fleet run with podman from those images, signed in and streaming ticks
# through nginx over TLS, then removed (docs/operations.md, "compose-test").
compose-test: images sync
	$(UV) run python scripts/compose_test.py

clean:
	rm -rf .venv .tools .livews .pytest_cache .mypy_cache .ruff_cache web/node_modules web/dist
