# waitline: the front door. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: help deps assets build build-asan unit test test-native test-static bench clean

help: ## this list
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

deps: ## install the Debian packages needed to build and test (needs root)
	scripts/setup/install-deps.sh

# Swagger UI and the OpenAPI validator come from npm, pinned by package-lock.json.
# The order-only prerequisite installs node and npm first on a machine that has none (make up).
node_modules/.package-lock.json: package.json package-lock.json | runtime-deps
	npm ci --no-audit --no-fund --loglevel=error
assets: node_modules/.package-lock.json

build: assets ## build the service (build/src/waitline)
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

build-asan: assets ## build the service and tests with AddressSanitizer and UBSan
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWAITLINE_SANITIZE=ON $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD_ASAN) -j $(JOBS)

# --no-tests=error: a build configured without its tests (CMAKE_ARGS, a stale cache) fails here
# instead of passing having run nothing.
test-native: build build-asan ## unit and integration tests (ctest), plain and under sanitizers
	cd $(BUILD) && ctest --no-tests=error --output-on-failure -j $(JOBS)
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --no-tests=error --output-on-failure -j $(JOBS)

# clang-format (.clang-format) over the C++ of src/ and tests/, then clang-tidy (.clang-tidy) over every
# translation unit of src/ with the build's compile commands (cmake/clang-tidy-commands.cmake), JOBS at
# a time: both must find nothing. The findings are in $(BUILD)/clang-tidy.log.
CXX_FILES = $(shell git ls-files 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'tests/*.hpp')
TIDY_UNITS = $(shell git ls-files 'src/*.cpp')
test-static: build ## clang-format and clang-tidy over the C++ code: zero findings
	clang-format --dry-run --Werror $(CXX_FILES)
	@echo "clang-format: $(words $(CXX_FILES)) files, 0 to reformat"
	cmake -DBUILD=$(abspath $(BUILD)) -P cmake/clang-tidy-commands.cmake
	@echo "clang-tidy -p $(BUILD)/clang-tidy --quiet <each of $(words $(TIDY_UNITS)) files of src/>, $(JOBS) at a time"
	@status=0; printf '%s\n' $(TIDY_UNITS) | xargs -P $(JOBS) -n 1 clang-tidy -p $(BUILD)/clang-tidy --quiet \
	  >$(BUILD)/clang-tidy.log 2>&1 || status=$$?; \
	  grep -E ': (warning|error): ' $(BUILD)/clang-tidy.log || true; \
	  echo "clang-tidy: $$(grep -cE ': (warning|error): ' $(BUILD)/clang-tidy.log) findings in $(words $(TIDY_UNITS)) translation units"; \
	  exit $$status

test: test-scripts test-static test-docs test-native test-fuzz test-e2e test-k8s test-observability test-pristine test-cluster ## every test: what CI runs

bench: build images ## measure with wrk: the service against a real Redis, then through the proxy of a Swarm stack; writes docs/benchmarks.md
	PYTHON=$(PYTHON) scripts/bench/bench.sh $(BUILD)/src/waitline

clean: ## remove build directories
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)

# --- Fuzzing: libFuzzer targets built with clang, ASan and UBSan (tests/fuzz/README.md) -----------
FUZZ_SECONDS ?= 300

.PHONY: test-fuzz fuzz

test-fuzz: assets ## fuzz every parser 20 s (2 at a time): fails on a crash, leak, UBSan report or broken property
	tests/fuzz/run.sh $(BUILD_FUZZ) 20 fresh

fuzz: assets ## fuzz longer, from what earlier runs found: make fuzz FUZZ_SECONDS=600 (per target, default 300)
	tests/fuzz/run.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

# --- Docker Swarm: the three platforms behind the proxy (docs/deploy-swarm.md) ---------------------
# Settings come from the environment: WAITLINE_PROJECT (stack prefix, default waitline),
# WAITLINE_HTTP_PORT / WAITLINE_HTTPS_PORT (8080 / 8443), WAITLINE_DOMAIN (localhost).
PYTHON   ?= /usr/bin/python3
PLATFORM ?=
QUEUE    ?=
REPLICAS ?=

.PHONY: runtime-deps engine images up down status scale device-add device-remove test-e2e screens

runtime-deps: ## install what make up needs when missing: node/npm, python3, the engine, debootstrap (root)
	scripts/setup/install-deps.sh --runtime

engine: ## install and start the Docker engine and a one-node swarm when missing (needs root)
	scripts/setup/docker-engine.sh

images: assets engine ## build the service, Redis, proxy and monitoring images (makes debian:bookworm-slim and debian:forky-slim when missing)
	scripts/setup/base-image.sh
	scripts/setup/images.sh

up: images ## deploy dev, qualif and prod behind the proxy, and the monitoring, on Docker Swarm; prints the URLs
	scripts/platform/secrets.sh
	scripts/platform/swarm.sh up

down: ## remove the stacks; the data (Redis volumes) stays
	scripts/platform/swarm.sh down

status: ## every service and its replicas, the resource budget, the URLs
	scripts/platform/swarm.sh status

scale: ## run REPLICAS replicas of a queue: make scale PLATFORM=prod QUEUE=rubis REPLICAS=3
	scripts/platform/swarm.sh scale "$(PLATFORM)" "$(QUEUE)" "$(REPLICAS)"

NAME ?=
ROLE ?=
device-add: ## a key for one screen, printed once: make device-add PLATFORM=prod QUEUE=rubis NAME=kiosk-hall ROLE=kiosk; then make up
	scripts/platform/secrets.sh device-add "$(PLATFORM)" "$(QUEUE)" "$(NAME)" "$(ROLE)"

device-remove: ## revoke one screen's key and its sessions: make device-remove PLATFORM=prod QUEUE=rubis NAME=kiosk-hall; then make up
	scripts/platform/secrets.sh device-remove "$(PLATFORM)" "$(QUEUE)" "$(NAME)"

test-e2e: images ## end-to-end tests on the real stack (own project wle2e, ports 18080/18443, own data)
	$(PYTHON) -m pytest -v -p no:cacheprovider tests/e2e

screens: ## copy the screenshots of the last make test-e2e (build/screens) into docs/screens (commit them)
	@test -s build/screens/kiosk.png || { echo "no screenshots in build/screens: run make test-e2e first" >&2; exit 1; }
	mkdir -p docs/screens
	cp build/screens/kiosk.png build/screens/desk.png build/screens/display.png build/screens/phone.png docs/screens/

# --- Kubernetes: the Helm chart, one release per platform (docs/deploy-kubernetes.md) -------------
.PHONY: k8s-deploy k8s-diff k8s-template test-k8s

k8s-deploy: assets ## deploy one platform to the cluster in KUBECONFIG: make k8s-deploy PLATFORM=prod
	scripts/platform/k8s.sh deploy "$(PLATFORM)"

k8s-diff: assets ## what make k8s-deploy would change on the cluster: make k8s-diff PLATFORM=prod
	scripts/platform/k8s.sh diff "$(PLATFORM)"

k8s-template: assets ## the manifests of one platform, rendered: make k8s-template PLATFORM=prod
	scripts/platform/k8s.sh template "$(PLATFORM)"

test-k8s: assets build ## offline checks of the chart and cluster manifests: helm lint, schemas, policies; the helm test's script against the service
	WAITLINE_BINARY=$(abspath $(BUILD))/src/waitline scripts/platform/k8s.sh validate

# --- Observability: rules, alert routes, dashboards (docs/livrables/guide-observabilite.md) -----------
.PHONY: test-observability

test-observability: ## promtool and amtool checks of observability/, runbooks, dashboard lint
	PYTHON=$(PYTHON) scripts/checks/observability.sh
	$(PYTHON) scripts/checks/dashboards.py

# --- Scripts: shellcheck on every shell script (scripts/checks/shellcheck.sh) ----------------------
.PHONY: test-scripts

test-scripts: ## shellcheck on every shell script of the repository (zero findings); the platforms file's reader
	scripts/checks/shellcheck.sh
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/scripts

# --- Docs: links, make targets, paths and diagrams (scripts/checks/docs.py); the French documents'
# spelling, language and figures (scripts/checks/livrables.py) ---------------------------------------
.PHONY: docs test-docs

docs: build ## re-render every diagram docs/**/diagrams/*.dot to the .svg and .png beside it, and docs/service.md's settings table (commit them)
	$(PYTHON) scripts/checks/docs.py --render
	$(BUILD)/tests/docs/settings_table --write docs/service.md

test-docs: ## links, anchors, make targets, paths, diagrams; the French documents' spelling (hunspell-fr), language and figures against the repository
	$(PYTHON) scripts/checks/docs.py
	$(PYTHON) scripts/checks/livrables.py
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/docs

# --- Several machines: simulated VMs, Ansible, GlusterFS (docs/livrables/guide-orchestrateur.md) ---
.PHONY: test-pristine cluster-up cluster-test cluster-down test-cluster

test-pristine: ## the README's make up on a pristine simulated Debian 12 VM (clean clone of HEAD), then a take
	tests/vm/test-pristine.sh

cluster-up: images ## 4 simulated VMs provisioned by deploy/ansible/site.yml (twice: the second must change nothing)
	tests/cluster/cluster.sh up

cluster-test: ## the cluster suite on those VMs: placement, storage, node loss under load
	tests/cluster/cluster.sh test

cluster-down: ## remove the simulated VMs, their disks and network
	tests/cluster/cluster.sh down

test-cluster: images ## cluster-down (a clean slate), cluster-up, cluster-test, cluster-down
	$(MAKE) cluster-down
	$(MAKE) cluster-up || { $(MAKE) cluster-down; exit 1; }
	tests/cluster/cluster.sh test || { $(MAKE) cluster-down; exit 1; }
	$(MAKE) cluster-down
