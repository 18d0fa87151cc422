# consul-handlers: the two commands of the README are `make demo` and `make test`.
SWIFT ?= swift
PREFIX ?= /usr/local
CONFIG ?= release
COMMANDS := consul-critical consul-jenkins consul-redeploy consul-log consul-heal
FIXTURES := Tests/TestSupport/Fixtures

# Releases: one static, stripped multi-call binary (consul-handlers) and five links to it.
VERSION := $(shell sed -n 's/^public let toolkitVersion = "\(.*\)"$$/\1/p' Sources/Platform/Version.swift)
ARCH := $(shell uname -m)
DIST := dist
RELEASE_NAME := consul-handlers-$(VERSION)-linux-$(ARCH)
RELEASE_DIR := $(DIST)/$(RELEASE_NAME)
RELEASE_SCRATCH := .build-release
DEB_REVISION := 1
RELEASE_SWIFT := $(SWIFT) build -c release --static-swift-stdlib --scratch-path $(RELEASE_SCRATCH)

.PHONY: all build test lint format demo bench install uninstall clean release release-check link-check deb deb-check

all: build

# One --product per invocation: swift build honours only the last one given.
build:
	for c in $(COMMANDS); do $(SWIFT) build -c $(CONFIG) --product $$c || exit 1; done

# Style: swift-format (shipped with the toolchain) with the repository's .swift-format.
# `make format` rewrites the files; `make lint` (run by CI) fails on any difference.
lint:
	$(SWIFT) format lint --strict --parallel --recursive Package.swift Sources Tests

format:
	$(SWIFT) format format --in-place --parallel --recursive Package.swift Sources Tests

# The whole test suite: unit tests, fake Jenkins over loopback, the built executables driven as
# a Consul agent drives them.
test:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# The main job on a recorded payload: what a `checks` watch with state "critical" hands the
# handler when web-02's health check fails, then the same payload as the seed would have seen it.
demo:
	$(SWIFT) build -c $(CONFIG) --product consul-critical
	$(SWIFT) build -c $(CONFIG) --product consul-heal
	@bash handlers/demo.sh "$$($(SWIFT) build -c $(CONFIG) --show-bin-path)"

# Benchmarks against the baselines (jq; the seed's bash + jq + curl). Prints ratios; the
# figures are recorded in docs/benchmarks.md.
# The release rows (r: consul-jenkins vs curl, consul-critical vs bash+jq, tarball size) use
# the static binaries of `make release`, as installed.
bench: release
	$(SWIFT) build -c release
	$(SWIFT) build -c release --product fake-jenkins
	@python3 Benchmarks/run.py --bin "$$($(SWIFT) build -c release --show-bin-path)" \
		--release-bin $(RELEASE_DIR)/bin --tarball $(DIST)/$(RELEASE_NAME).tar.gz

# dist/consul-handlers-VERSION-linux-ARCH.tar.gz and dist/SHA256SUMS.
release:
	$(RELEASE_SWIFT) --product consul-handlers
	sh packaging/release.sh "$$($(RELEASE_SWIFT) --show-bin-path)/consul-handlers" $(VERSION) $(ARCH) $(DIST)

# The release runs with an empty environment and no toolchain; no executable links ICU.
release-check: release
	sh packaging/tests/link-check.sh "$$($(RELEASE_SWIFT) --show-bin-path)/consul-handlers"
	sh packaging/tests/release-check.sh $(RELEASE_DIR)/bin $(FIXTURES)
	sh packaging/tests/man-check.sh $(RELEASE_DIR)/bin $(RELEASE_DIR)/share/man/man1
	@size=$$(wc -c < $(DIST)/$(RELEASE_NAME).tar.gz); echo "tarball: $$size bytes (limit 26214400)"; \
		test $$size -le 26214400

# The debug executables that `make test` built: none may link Foundation's ICU.
link-check:
	sh packaging/tests/link-check.sh $(foreach c,$(COMMANDS),"$$($(SWIFT) build --show-bin-path)/$(c)")

# dist/consul-handlers_VERSION_DEBARCH.deb, from the release binaries.
deb: release
	sh packaging/deb/build.sh $(RELEASE_DIR) $(VERSION) $(DIST) $(DEB_REVISION)

deb-check: deb
	sh packaging/tests/deb-check.sh $(DIST)/consul-handlers_$(VERSION)-$(DEB_REVISION)_$$(dpkg --print-architecture).deb $(FIXTURES)

# The release binaries: PREFIX/bin/consul-handlers, the five commands as links to it, and
# the man pages.
install: release
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(RELEASE_DIR)/bin/consul-handlers $(DESTDIR)$(PREFIX)/bin/consul-handlers
	for c in $(COMMANDS); do ln -sf consul-handlers $(DESTDIR)$(PREFIX)/bin/$$c; done
	install -m 0644 $(RELEASE_DIR)/share/man/man1/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/

uninstall:
	for c in $(COMMANDS) consul-handlers; do rm -f $(DESTDIR)$(PREFIX)/bin/$$c $(DESTDIR)$(PREFIX)/share/man/man1/$$c.1; done

clean:
	rm -rf .build .build-* $(DIST)
