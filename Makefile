# intelgraph.ops: the two commands are `make demo` and `make test`; everything they need
# is installed by the targets below.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?= python3
SCENARIO ?= default
RELEASES := 24.0.0 24.1.0

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR ?= 0
export INTELGRAPH_SANDBOX_ROOT := $(CURDIR)

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z][a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# --- set-up ---------------------------------------------------------------------------

.PHONY: deps host-deps venv collections
deps: host-deps venv collections ## install everything (Debian packages, podman settings, Python venv)

host-deps:
	@bash sandbox/setup-host.sh

venv: $(VENV)/.installed $(VENV)/.zipimport-cache
$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

# The modules a playbook runs on localhost import their payload from a zip with the venv's Python,
# which compiles it afresh each time: the sandbox hosts' compiled-code cache, in the venv as well
# (sandbox/image/zipimport_cache.py), kept under .sandbox/.
ZIPIMPORT_CACHE_DIR := $(CURDIR)/.sandbox/zipimport-cache
$(VENV)/.zipimport-cache: sandbox/image/zipimport_cache.py $(VENV)/.installed
	$(VENV)/bin/python $< --cache-dir $(ZIPIMPORT_CACHE_DIR)
	touch $@

collections: .collections/ansible_collections/intelgraph/ops
.collections/ansible_collections/intelgraph/ops:
	mkdir -p $(@D)
	ln -sfn ../../.. $@

.PHONY: dist
dist: $(foreach v,$(RELEASES),sandbox/dist/intelgraph-server-$(v).tar.gz) ## build the stand-in release tarballs
sandbox/dist/intelgraph-server-%.tar.gz: $(shell find sandbox/app -type f -not -path '*/__pycache__/*' 2>/dev/null)
	$(PYTHON) sandbox/app/build.py --version $* --out sandbox/dist

# --- the sandbox and the demo ---------------------------------------------------------

.PHONY: sandbox-up sandbox-down deploy traffic-start traffic-stop demo demo-down
sandbox-up: deps dist ## build the host image and start the sandbox fleet
	ansible-playbook sandbox/playbooks/fleet_up.yml

deploy: sandbox-up ## deploy IntelGraph 24.0.0 on the sandbox fleet, with historical ingest batches
	ansible-playbook playbooks/site.yml sandbox/playbooks/seed.yml

traffic-start: venv ## start steady traffic through the sandbox load balancer
	ansible-playbook sandbox/playbooks/traffic.yml -e sandbox_traffic_action=start

traffic-stop: venv ## stop it and print its statistics
	ansible-playbook sandbox/playbooks/traffic.yml -e sandbox_traffic_action=stop

demo: deploy ## sandbox fleet on 24.0.0, steady traffic, upgrade to 24.1.0, summary
	$(MAKE) --no-print-directory traffic-start
	ansible-playbook playbooks/upgrade.yml || { $(MAKE) --no-print-directory traffic-stop; exit 1; }
	ANSIBLE_CALLBACKS_ENABLED=ansible.posix.timer ansible-playbook sandbox/playbooks/summary.yml

demo-down: ## remove every container, network and process the sandbox made
	ansible-playbook sandbox/playbooks/fleet_down.yml

# --- tests ----------------------------------------------------------------------------

.PHONY: test test-local test-unit test-integration test-e2e lint molecule build
# Three lanes (tests/lanes.py, below): lane 1 runs the unit and integration tests, lane 2 Molecule
# (on its fleet, N+2), lane 3 nothing of its own; each lane then takes end-to-end files until none
# is left. The suite is bound by the two cores: with three lanes the machine is over 90% busy.
# Lint runs beside them at nice 19 (--background): no time limit, it takes the processor time
# the lanes leave while they wait. Each part's output is printed whole when it ends. At the end: the
# whole run's time against its 25-minute target, each part's time and CPU, the end-to-end files'
# CPU against their budget, and the slowest end-to-end tests (tests/timings.py; it only prints).
TEST_TARGET_MINUTES ?= 25
E2E_CPU_BUDGET_MINUTES ?= 19
TIMINGS := .sandbox/test-timings
# Runs a command, writes how long it took to $(TIMINGS)/<name>.seconds, exits as it did.
timed = mkdir -p $(TIMINGS); start=$$(date +%s); rc=0; $(2) || rc=$$?; \
	echo "$$(( $$(date +%s) - start )) rc=$$rc" > $(TIMINGS)/$(1).seconds; exit $$rc

test: deps dist ## install what the tests need and run them all
	@rm -rf $(TIMINGS); rc=0; \
	( $(call timed,test,$(LANES) --background "$(MAKE) --no-print-directory lint" \
		--first "$(MAKE) --no-print-directory test-local" \
		--first "$(MAKE) --no-print-directory molecule" $(E2E_TESTS) -- $(E2E)) ) || rc=$$?; \
	$(VENV)/bin/python tests/timings.py --dir $(TIMINGS) \
		--target-minutes $(TEST_TARGET_MINUTES) --e2e-cpu-budget-minutes $(E2E_CPU_BUDGET_MINUTES); exit $$rc

test-local: ## unit and integration tests: on this machine alone, no fleet
	@$(call timed,test-local,$(MAKE) --no-print-directory test-unit && $(MAKE) --no-print-directory test-integration)

# Unit and integration tests run in parallel workers (pytest-xdist): most of their time is spent
# waiting (time limits, retries, servers starting), not computing. Integration tests keep each
# file on one worker, so a file's host container or servers start once.
test-unit: venv collections ## unit tests (fast, no fleet)
	$(VENV)/bin/pytest -q -n 4 tests/unit

test-integration: venv dist ## the stand-in service against a local Redis and PostgreSQL; the fleet helpers on a host container
	$(VENV)/bin/pytest -q -n 2 --dist loadfile tests/integration

# Lanes (tests/lanes.py): the test files wait in one queue (FILE_ORDER, the longest first), and
# each of E2E_LANES lanes takes the next as it frees up, on a fleet of its own (sandbox N+K for
# lane K, INTELGRAPH_SANDBOX_ID=N). In `make test` lane 1 first runs test-local and lane 2
# Molecule (on its fleet, N+2), each taking files as soon as its own part has ended; lane 3 takes
# its first file at once. Three lanes keep both cores busy (over 90%, against 80% with two: an
# end-to-end file waits on drains, restarts and bakes much of its time). Each fleet, Molecule's
# included, is started from the same images of a deployed fleet, made once by the first that
# needs them (tests/e2e/sandbox.py, Fleet.fresh), and removed at the end unless KEEP_FLEETS=1.
E2E_LANES ?= 3
E2E_TESTS ?= tests/e2e
LANES = $(VENV)/bin/python tests/lanes.py --lanes $(E2E_LANES) --timings $(TIMINGS)
test-e2e: deps dist ## end-to-end tests on the sandbox fleet (E2E_TESTS=tests/e2e/<file> for one file, E2E="-k name" for one test)
	@$(LANES) $(E2E_TESTS) -- $(E2E)

lint: venv collections ## ansible-lint (production profile), yamllint, ruff, ansible-test sanity
	@$(call timed,lint,ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.collections ansible-lint --profile production \
		&& yamllint --strict . && ruff check . && ruff format --check . && .ci/sanity)

# The host image first, before Molecule starts (its destroy and create steps come before the
# image is asked for): in `make test` every fleet, Molecule's and the lanes', and the fleet tests
# of test-integration wait for it, so it is built from the lane's start.
molecule: deps dist ## the Molecule scenario: upgrade, rollback, each proved idempotent and verified
	@$(call timed,molecule,bash sandbox/image/build.sh >/dev/null && molecule test -s $(SCENARIO))

build: venv ## build the collection tarball
	ansible-galaxy collection build --force

# --- benchmark (not a test: it asserts nothing, and `make test` does not run it) ----------

BENCH_SIZES ?= 3,12
BENCH_ARGS ?=  # more options of sandbox/bench/bench.py, e.g. --no-stock (docs/benchmark.md)
.PHONY: bench
bench: deps dist ## time the upgrade on fresh sandbox fleets: floor, stock Ansible, 3 and 12 API hosts (BENCH_SIZES)
	$(VENV)/bin/python sandbox/bench/bench.py --sizes $(BENCH_SIZES) $(BENCH_ARGS)
