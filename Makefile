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

# A short run of every Fuzz* function in the module, one after another
# (go test fuzzes one target at a time), found anew on each run so that
# new targets are included without editing this file.
FUZZTIME ?= 20s
fuzz:
	@set -e; \
	for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		for fn in $$($(GO) test -list '^Fuzz' $$dir | grep '^Fuzz'); do \
			echo "== $$dir $$fn ($(FUZZTIME))"; \
			$(GO) test $$dir -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME); \
		done; \
	done

image:
	$(GO) run ./cmd/debstrap build --variant=$(VARIANT) $(SUITE) $(IMAGE)

clean:
	rm -rf bin
