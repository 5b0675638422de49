# carrierbill — run `make help` for the targets.
GO ?= go
PKGS ?= ./...

.PHONY: help demo test lint tidy bench bench-gateway fuzz faults screenshots

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

demo: ## run the gateway's main job on this machine: carrierbill demo
	$(GO) run ./cmd/carrierbill demo

test: ## run every test with the race detector (Postgres/Redis tests skip locally when absent, fail under CI=true); -timeout 12m per package is a backstop for a loaded machine (slowest: cmd/carrierbill ~4.5 min; billing/sqlite ~3 min since its tests copy a migrated template)
	$(GO) vet $(PKGS)
	@$(GO) run ./internal/dbtest/probe
	$(GO) test -race -count=1 -timeout 12m $(PKGS)

lint: tidy ## go mod tidy check, go vet, gofmt, and staticcheck when it is installed
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	@command -v staticcheck >/dev/null && staticcheck $(PKGS) || echo "staticcheck not installed; skipped"

tidy: ## fail when `go mod tidy` would change go.mod or go.sum (it prints the diff; run go mod tidy)
	@$(GO) mod tidy -diff || (echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit the result" >&2; exit 1)

bench: ## run the benchmarks (figures go to BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

BENCH_FLAGS ?= -duration 30s
bench-gateway: ## carrierbill bench: the gateway over SMPP on $$DATABASE_URL/$$REDIS_URL (or BENCH_FLAGS=-embedded), report in bench.json
	$(GO) run ./cmd/carrierbill bench -json bench.json $(BENCH_FLAGS)

fuzz: ## run each fuzz target for 20s
	@for p in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$p | grep ^Fuzz); do \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s $$p || exit 1; done; done

FAULTS_FLAGS ?=
faults: ## the fault suite, long: kill -9 (>=100, both stores), two gateways, database/Redis/SMSC faults, verify after each (FAULTS_FLAGS=-faults.seed=N replays)
	$(GO) test -count=1 -timeout 90m -run '^TestFaults$$' -v ./faults -args -faults.long $(FAULTS_FLAGS)

screenshots: ## rewrite the console screenshots in docs/ (headless chromium)
	CARRIERBILL_SCREENSHOTS=1 $(GO) test -count=1 -run '^TestOpsConsoleInChromium$$' ./cmd/carrierbill
