# debstrap — see README.md.
GO      ?= go
SUITE   ?= bookworm
VARIANT ?= minbase
IMAGE   ?= $(SUITE)-$(VARIANT).tar

.PHONY: all build test e2e e2e-full bench fuzz image clean

all: build test

build:
	$(GO) build -o bin/debstrap ./cmd/debstrap

# Hermetic: no network, a local test archive served by httptest.
test:
	$(GO) vet ./...
	$(GO) test ./...

# Live checks against the host's configured mirror (and Ubuntu's, from
# debootstrap's scripts or $DEBSTRAP_UBUNTU_MIRROR).
e2e: build
	bash e2e/run.sh

# The long comparisons too (E2E_FULL=1: every suite and mode, larger sets);
# run before resolving an issue, not in CI.
e2e-full: build
	E2E_FULL=1 bash e2e/run.sh

bench: build
	bash bench/run.sh

# A short run of every fuzz target.
FUZZTIME ?= 20s
fuzz:
	$(GO) test ./apt/ -run '^$$' -fuzz FuzzParsePackages -fuzztime $(FUZZTIME)
	$(GO) test ./resolve/ -run '^$$' -fuzz FuzzVersionCompare -fuzztime $(FUZZTIME)

image:
	$(GO) run ./cmd/debstrap build --variant=$(VARIANT) $(SUITE) $(IMAGE)

clean:
	rm -rf bin
