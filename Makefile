# consul-handlers: the two commands of the README are `make demo` and `make test`.
SWIFT ?= swift
PREFIX ?= /usr/local
CONFIG ?= release
COMMANDS := consul-critical consul-jenkins consul-redeploy consul-log consul-heal
FIXTURES := Tests/TestSupport/Fixtures

.PHONY: all build test demo bench install uninstall clean

all: build

# One --product per invocation: swift build honours only the last one given.
build:
	for c in $(COMMANDS); do $(SWIFT) build -c $(CONFIG) --product $$c || exit 1; done

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
bench:
	$(SWIFT) build -c release
	@python3 Benchmarks/run.py --bin "$$($(SWIFT) build -c release --show-bin-path)"

install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	for c in $(COMMANDS); do install -m 0755 "$$($(SWIFT) build -c $(CONFIG) --show-bin-path)/$$c" $(DESTDIR)$(PREFIX)/bin/; done

uninstall:
	for c in $(COMMANDS); do rm -f $(DESTDIR)$(PREFIX)/bin/$$c; done

clean:
	rm -rf .build .build-*
