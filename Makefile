# govalent: `make demo` builds and runs the README's workflow; `make test` runs every test.
GO      ?= go
BIN     := bin/govalent
# packages with goroutines of their own run under the race detector
RACE    := ./dispatcher/... ./executors/... ./interp/... ./results/... ./kernel/... ./gui/... ./native/...

.PHONY: build demo test deps check generate bench clean

build:
	$(GO) build -o $(BIN) ./cmd/govalent

demo: build
	./$(BIN) run --embedded examples/pipeline.go

deps:
	./install/test-deps.sh

check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go') 2>&1); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

test: deps check
	$(GO) test -count=1 -race -timeout 20m $(RACE)
	$(GO) test -count=1 -timeout 20m ./cmd/... ./ct/... ./install/... ./internal/... ./bench/... ./examples/...
	# the tests left out of -race runs: interrupts (a race inside yaegi), crashes (no hard memory limit under -race)
	$(GO) test -count=1 -timeout 5m -run 'Interrupt|TheKernelSurvives|EvaluatorMemory' ./kernel/
	$(GO) test -count=1 -timeout 5m -run 'Interrupted' ./interp/
	# the dispatcher's suite again with electrons in the interpreter (above they run native)
	GOVALENT_TEST_TIER=interpreted $(GO) test -count=1 -timeout 10m ./dispatcher/

generate:
	$(GO) generate ./...

bench:
	./bench/run.sh
	./bench/native_run.sh
	./bench/redis_run.sh
	$(GO) run bench/qsim.go
	$(GO) run bench/slurm_fanout.go
	$(GO) test -run '^$$' -bench . -benchtime 3x ./bench/ssh_overhead

clean:
	rm -rf bin
