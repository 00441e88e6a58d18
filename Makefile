# ccmblk: the two commands that do everything on a fresh Debian 12 machine are
#   make demo   serve a freshly made encrypted image to a small VM and show it
#   make test   every test, VM tests included (what CI runs)

GO      ?= go
BIN     := bin
GOFLAGS ?=

.PHONY: all build setup vet test test-unit test-purego test-vm fuzz bench bench-vm demo clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# setup installs QEMU, node and the guest kernel the VM tests and the demo use.
setup:
	bash tests/setup.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags integration ./tests/...

test-unit:
	$(GO) test -race -count=1 ./...

# The generic (no assembly) CCM kernels must pass the same tests.
test-purego:
	$(GO) test -count=1 -tags purego ./ccm/...

test-vm: build
	$(GO) test -count=1 -tags integration -timeout 30m -v ./tests/...

test: setup vet test-unit test-purego test-vm

# Short coverage-guided runs of every fuzz target (their seed corpora run in
# test-unit already).
fuzz:
	bash tests/fuzz.sh 30s

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./ccm/

bench-vm: setup build
	$(GO) run ./tests/cmd/vmbench

demo: setup build
	$(GO) run ./tests/cmd/demo

clean:
	rm -rf $(BIN) .cache
