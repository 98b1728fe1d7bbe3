# Targets wrap the npm scripts and the real-kernel harness. `make check` is what CI runs.
SHELL := /bin/bash
.PHONY: deps build lint typecheck test test-host test-kernel bench demo check clean

deps:
	@scripts/host-deps.sh

build: deps
	npm run build

typecheck: deps
	npm run typecheck

lint: deps
	npm run lint

test-host: deps
	npm test

# Tests that need XFRM interfaces and ESP: boots the QEMU guest once per kernel.
test-kernel: deps
	test/kernel/run-tests.sh

test: test-host test-kernel

bench: deps
	npm run bench -- $(NAME)

demo: build
	examples/demo.sh

check: lint typecheck build test-host test-kernel

clean:
	rm -rf dist .cache
