# ccmblk: the two commands that do everything on a fresh Debian 12 machine are
#   make demo   serve a freshly made encrypted image to a small VM and show it
#   make test   every test, VM tests included (what CI runs)

GO      ?= go
BIN     := bin
GOFLAGS ?=

# make install PREFIX=/usr DESTDIR=/tmp/pkg lays out exactly:
#   $(PREFIX)/bin/vhost-user-blk-ccm
#   $(PREFIX)/bin/ccmblock
#   $(PREFIX)/lib/systemd/system/vhost-user-blk-ccm@.service
#   $(PREFIX)/lib/systemd/system/vhost-user-blk-ccm@.socket
#   $(PREFIX)/share/qemu/vhost-user/50-vhost-user-blk-ccm.json
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  := $(PREFIX)/bin
UNITDIR := $(PREFIX)/lib/systemd/system
VHOSTUSERDIR := $(PREFIX)/share/qemu/vhost-user

.PHONY: all build install setup vet test test-unit test-purego test-vm fuzz bench bench-vm demo clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(VHOSTUSERDIR)
	install -m 0755 $(BIN)/vhost-user-blk-ccm $(BIN)/ccmblock $(DESTDIR)$(BINDIR)/
	for f in contrib/systemd/vhost-user-blk-ccm@.service contrib/systemd/vhost-user-blk-ccm@.socket; do \
		sed 's|@BINDIR@|$(BINDIR)|g' $$f >$(DESTDIR)$(UNITDIR)/$${f##*/} && chmod 0644 $(DESTDIR)$(UNITDIR)/$${f##*/} || exit 1; \
	done
	sed 's|@BINDIR@|$(BINDIR)|g' contrib/qemu/50-vhost-user-blk-ccm.json >$(DESTDIR)$(VHOSTUSERDIR)/50-vhost-user-blk-ccm.json
	chmod 0644 $(DESTDIR)$(VHOSTUSERDIR)/50-vhost-user-blk-ccm.json

# setup installs QEMU, node and the guest kernel the VM tests and the demo use.
setup:
	bash tests/setup.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags integration ./tests/...

test-unit:
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run 'TestBlockedGuestMemory' ./vhostuser/

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
