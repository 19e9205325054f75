# shebao: `make demo` runs the platform with a realistic workload; `make test` runs every test.
# Both install what they need first (scripts/bootstrap.sh) and stop what they start.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/venv/bin/uv)
PYTEST_ARGS ?=
SERVICE_PACKAGES := $(foreach d,$(wildcard services/*/src/shebao_*),-p $(notdir $(d)))

.PHONY: help bootstrap test test-fast chaos lint k8s-check k8s-users contracts contracts-check docs demo bench images up partners down infra-up infra-down clean

help:
	@echo "make demo        run the platform on real Kafka + Redis and drive a scenario through it"
	@echo "make test        install what is missing, lint, check contracts, run every test suite"
	@echo "make test-fast   unit tests only (no broker)"
	@echo "make chaos       the whole platform under killed processes and restarted Kafka and Redis"
	@echo "make bench       measure throughput and latency, write BENCHMARKS.md"
	@echo "make lint        ruff and mypy"
	@echo "make k8s-check   render every Kustomize overlay and component and check the manifests"
	@echo "make k8s-users   regenerate the Strimzi KafkaUsers from the topic registry and deploy/partners.toml"
	@echo "make contracts   regenerate JSON Schema and AsyncAPI under contracts/ (refuses breaking changes)"
	@echo "make docs        validate contracts/asyncapi and render them to docs/contracts/ (HTML, opens offline)"
	@echo "make up          the whole platform under compose (Docker or podman); make down stops it"
	@echo "make partners    the partners' simulator (the demo's city) against the platform make up ran"
	@echo "make images      build every service's image (Docker, or podman with a local Debian base)"
	@echo "make infra-up    start Kafka and Redis for development (infra-down stops them)"

bootstrap:
	@scripts/bootstrap.sh $(BOOTSTRAP_ARGS)

# the browser test of the demo's report needs Chromium, the image tests a container engine, the
# benchmark's Quix Streams peer its `bench` group: `make test` has bootstrap install them
test: BOOTSTRAP_ARGS = --browser --containers --bench
# the benchmark runs Quix Streams beside the platform: `make bench` has bootstrap install the
# `bench` dependency group (into .bench-venv, apart from the workspace's .venv)
bench: BOOTSTRAP_ARGS = --bench

lint: bootstrap
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy -p shebao_contracts -p shebao_common -p shebao_devinfra -p shebao_partners $(SERVICE_PACKAGES)

contracts: bootstrap
	$(UV) run python -m shebao_contracts.gen write

contracts-check: bootstrap
	$(UV) run python -m shebao_contracts.gen check

docs:
	@scripts/docs.sh

k8s-check:
	scripts/k8s-check.sh

k8s-users: bootstrap
	$(UV) run python -m shebao_devinfra.k8s_users

# the unit tests run in a session of their own beside the integration tests (scripts/test.sh)
test: bootstrap lint contracts-check k8s-check
	UV=$(UV) scripts/test.sh $(PYTEST_ARGS)

test-fast: bootstrap
	$(UV) run pytest -m "not integration and not e2e" $(PYTEST_ARGS)

chaos: bootstrap
	$(UV) run pytest -m chaos e2e/tests/test_chaos.py $(PYTEST_ARGS)

demo: bootstrap
	$(UV) run python -m shebao_devinfra.demo $(ARGS)

bench: bootstrap
	$(UV) run python -m shebao_devinfra.bench $(ARGS)

images: bootstrap
	$(UV) run shebao-infra images

up: bootstrap
	$(UV) run shebao-infra platform up

partners: bootstrap
	$(UV) run shebao-infra platform partners

down:
	$(UV) run shebao-infra platform down

infra-up: bootstrap
	@$(UV) run shebao-infra up

infra-down:
	@$(UV) run shebao-infra down

clean: infra-down
	rm -rf .tools .venv .pytest_cache .mypy_cache .ruff_cache
