# sluice: the two commands the README promises, and a few helpers.
#   make demo   real backup + restore on a local file:// target with the demo key
#   make test   install test tools, then run the whole suite (what CI runs)

GO      ?= go
BIN     := bin/sluice
DEMO    := $(CURDIR)/.demo

.PHONY: build demo test test-deps vet fmt bench clean

build:
	$(GO) build -o $(BIN) ./cmd/sluice

demo: build
	@bash examples/demo/run.sh $(BIN) $(DEMO)

test-deps:
	@bash .ci/test-deps

test: test-deps
	@bash .ci/test

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt needed"; exit 1; }

clean:
	rm -rf bin $(DEMO)
