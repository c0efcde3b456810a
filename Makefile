# Herd — run `make help` for the targets.
GO ?= go
# Builds and checks use Go 1.27.3, fetched through the module proxy, for its
# standard-library security fixes (govulncheck flags go1.26.8). The module
# itself needs only Go 1.26.
export GOTOOLCHAIN ?= go1.27.3
STATICCHECK_VERSION := v0.8.2
GOVULNCHECK_VERSION := v1.9.0

.PHONY: help run test test-short check fmt vet staticcheck vulncheck fuzz bench build

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

run: ## run the cloud on embedded defaults (http://127.0.0.1:8440, data in ./herd-data)
	$(GO) run ./cmd/herdd

build: ## build herdd, herd and herdctl into ./bin
	$(GO) build -o bin/ ./cmd/herdd ./cmd/herd ./cmd/herdctl

# The YARA engine (agent/yara) needs cgo and libyara: its tests and checks
# run with -tags yara when pkg-config finds libyara (Debian: libyara-dev).
HAVE_YARA := $(shell pkg-config --exists yara 2>/dev/null && echo yes)

test: ## run every test, with the race detector (and the YARA engine's, if libyara is installed)
	$(GO) test -race -count=1 ./...
	@if [ "$(HAVE_YARA)" = yes ]; then echo "$(GO) test -race -count=1 -tags yara ./agent/yara/"; $(GO) test -race -count=1 -tags yara ./agent/yara/; else echo "libyara not found (pkg-config yara): YARA tests skipped"; fi

test-short: ## run the fast tests only
	$(GO) test -short ./...

check: fmt vet staticcheck vulncheck ## every static check CI runs

fmt: ## fail if any file is not gofmt'ed
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt'ed:"; echo "$$out"; exit 1; fi

vet: ## go vet (also with -tags yara if libyara is installed)
	$(GO) vet ./...
	@if [ "$(HAVE_YARA)" = yes ]; then $(GO) vet -tags yara ./agent/yara/; else echo "libyara not found: go vet -tags yara skipped"; fi

staticcheck: ## staticcheck (installed at a pinned version if missing)
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$$($(GO) env GOPATH)/bin/staticcheck ./...
	@if [ "$(HAVE_YARA)" = yes ]; then $$($(GO) env GOPATH)/bin/staticcheck -tags yara ./agent/yara/; else echo "libyara not found: staticcheck -tags yara skipped"; fi

vulncheck: ## govulncheck against an offline copy of the Go vulnerability database
	$(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
	bash .ci/vulndb.sh .cache/vulndb
	$$($(GO) env GOPATH)/bin/govulncheck -db file://$(CURDIR)/.cache/vulndb ./...

fuzz: ## run each fuzz test for a short while (FUZZTIME=30s)
	bash .ci/fuzz.sh $(or $(FUZZTIME),15s)

bench: ## run the Go benchmarks and the bench command (see BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./cmd/herdbench -out bench-data
