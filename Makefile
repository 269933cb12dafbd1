# duplexlab — the only commands a new user needs. `make help` lists them.
PROTOCOLS ?=
VIA ?=
PROFILE ?=
SERVER_IMAGE ?=
SERVER_PORT ?=
SERVER_PATH ?=
QUIET ?=
CELLS ?=
SHARD ?=
LINK ?=
CLUSTER ?=
PY := .venv/bin/python
COMPOSE := COMPOSE_BAKE=false docker compose

.DEFAULT_GOAL := help
.PHONY: help lab grid test down clean lint bench

help: ## Show the targets and what each does
	@awk 'BEGIN{FS=":.*## "} /^[a-z]+:.*## /{printf "  make %-6s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

lab: ## Bootstrap, run every protocol's scenario in Docker, capture, check, print verdicts (PROTOCOLS=, VIA=, PROFILE=, SERVER_IMAGE=)
	@lab/bootstrap.sh all && $(PY) -m lab.run $(if $(QUIET),--quiet) $(if $(VIA),--via '$(VIA)') $(if $(PROFILE),--profile $(PROFILE),$(PROTOCOLS)) $(if $(SERVER_IMAGE),--server-image '$(SERVER_IMAGE)' --server-port '$(SERVER_PORT)' --server-path '$(SERVER_PATH)')

grid: ## The interop grid: every protocol x server x client cell in Docker, captured and judged (CELLS=, SHARD=i/N, LINK=slow, VIA=nginx|haproxy...)
	@lab/bootstrap.sh all && $(PY) -m lab.grid $(if $(CELLS),--cells '$(CELLS)') $(if $(SHARD),--shard '$(SHARD)') $(if $(LINK),--link '$(LINK)') $(if $(VIA),--via '$(VIA)')

test: ## Bootstrap, then run the unit tests and the end-to-end test of the real lab
	@lab/bootstrap.sh test && { $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; [ $$rc -ne 5 ] || echo "pytest collected no tests: that is a failure here" >&2; exit $$rc; }

down: ## Stop and remove every container and network the lab started (captures are finalized)
	@if docker info >/dev/null 2>&1; then $(COMPOSE) --profile misbehave down --remove-orphans --timeout 20; fi

clean: down ## Also remove the captures and the virtualenv
	@rm -rf captures .venv

bench: ## Time our check against tshark and the reading floor on the WebSocket, HTTP/1.1, HTTP/3 and WebSocket-over-TLS mixes (SIZES=, REPEAT=), start-up, -j scaling, memory (MEMORY=), floods, and one capture on 1 and 2 cluster workers (CLUSTER=packets)
	@lab/bootstrap.sh venv && lab/bootstrap.sh tools && $(PY) benchmarks/run.py $(SIZES) $(if $(MEMORY),--memory $(MEMORY)) $(if $(REPEAT),--repeat $(REPEAT)) && $(PY) benchmarks/cluster.py $(CLUSTER)

lint: ## Check the code style with ruff
	@lab/bootstrap.sh venv && $(PY) -m ruff check analysis lab services tests
