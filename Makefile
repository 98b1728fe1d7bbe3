# Targets wrap the npm scripts and the real-kernel harness. `make check` is what CI runs.
SHELL := /bin/bash
.PHONY: deps build dist lint typecheck test test-host test-kernel bench demo check clean

deps:
	@scripts/host-deps.sh

build: deps
	npm run build

# The release tarball the OpenWrt package downloads: dist/xfrmd-<version>.tar.gz (scripts/dist.ts).
# PIN=1 (at a release) also writes its version and sha256 into openwrt/xfrmd/Makefile.
dist: build
	npm run --silent dist -- $(if $(PIN),--pin)

typecheck: deps
	npm run typecheck

lint: deps
	npm run lint

RESULTS := .cache/results

test-host: deps
	@mkdir -p $(RESULTS) && rm -f $(RESULTS)/host.json
	npx vitest run --reporter=default --reporter=json --outputFile.json=$(RESULTS)/host.json

# Tests that need XFRM interfaces and ESP: boots the QEMU guest once per kernel
# (dist.ktest.ts unpacks the release tarball, so that is made first).
test-kernel: dist
	test/kernel/run-tests.sh

test: test-host test-kernel

bench: deps
	npm run bench -- $(NAME)

demo: build
	examples/demo.sh

# Everything CI runs; ends with one "N passed, N failed" line over host and guest tests.
check: lint dist
	@rm -rf $(RESULTS)
	@status=0; $(MAKE) --no-print-directory test-host || status=1; \
	$(MAKE) --no-print-directory test-kernel || status=1; \
	node scripts/test-summary.mjs || status=1; exit $$status

clean:
	rm -rf dist .cache
