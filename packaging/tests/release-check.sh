#!/bin/sh
# The release binaries run on a machine with no Swift: empty environment, nothing from the
# toolchain on the library path, payloads through a pipe as a Consul agent sends them.
#   packaging/tests/release-check.sh BIN_DIR FIXTURES_DIR
set -eu
bin=$(cd "$1" && pwd) fixtures=$(cd "$2" && pwd)
commands="consul-critical consul-jenkins consul-redeploy consul-log consul-heal"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "release-check: $*"; exit 1; }

# Libraries: the C/C++ runtime only; nothing from a Swift toolchain.
libs=$(ldd "$bin/consul-handlers")
if printf '%s\n' "$libs" | grep -E 'swift|/opt/|Foundation|not found'; then fail "consul-handlers loads the above"; fi
needed=$(readelf -d "$bin/consul-handlers" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')
for lib in $needed; do
    case $lib in libc.so.6|libm.so.6|libstdc++.so.6|libgcc_s.so.1|ld-linux*) ;; *) fail "unexpected DT_NEEDED $lib";; esac
done

# Each name: --version and --help with an empty environment.
for c in $commands; do
    [ -L "$bin/$c" ] || [ -x "$bin/$c" ] || fail "$c missing in $bin"
    out=$(env -i "$bin/$c" --version) || fail "$c --version exited $?"
    case $out in "$c "[0-9]*) ;; *) fail "$c --version printed '$out'";; esac
    env -i "$bin/$c" --help > "$tmp/help" || fail "$c --help exited $?"
    head -1 "$tmp/help" | grep -q "^Usage: $c" || fail "$c --help does not start with 'Usage: $c'"
done
out=$(env -i "$bin/consul-handlers" consul-critical --version)
[ "$out" = "consul-critical $(echo "$out" | cut -d' ' -f2)" ] || fail "consul-handlers consul-critical --version printed '$out'"
status=0; env -i "$bin/consul-handlers" nonsense 2>/dev/null || status=$?
[ $status -eq 64 ] || fail "consul-handlers nonsense exited $status, not 64"

# A real payload through a pipe, as the agent runs a handler: sh -c, CONSUL_INDEX set.
payload=$fixtures/checks-state-critical-one.json
[ -f "$payload" ] || fail "no fixture $payload"
out=$(env -i CONSUL_INDEX=48391 /bin/sh -c "cat '$payload' | '$bin/consul-critical' --format names")
[ "$out" = "web" ] || fail "consul-critical --format names printed '$out', expected 'web'"
out=$(env -i CONSUL_INDEX=48391 /bin/sh -c "cat '$payload' | '$bin/consul-critical'")
printf '%s\n' "$out" | grep -q '"consulIndex":48391' || fail "consul-critical jsonl lacks consulIndex: $out"
env -i CONSUL_INDEX=48391 /bin/sh -c "cat '$payload' | '$bin/consul-log' --file '$tmp/log.jsonl'" 2>/dev/null \
    || fail "consul-log exited $?"
grep -q '"web"' "$tmp/log.jsonl" || fail "consul-log wrote no record for web"
env -i CONSUL_INDEX=48391 /bin/sh -c "cat '$payload' | '$bin/consul-jenkins' --no-state --dry-run --url http://127.0.0.1:9" \
    > "$tmp/jenkins.out" 2>&1 || fail "consul-jenkins --dry-run exited $?: $(cat "$tmp/jenkins.out")"
grep -q 'would POST http://127.0.0.1:9/job/web/build' "$tmp/jenkins.out" || fail "consul-jenkins --dry-run: $(cat "$tmp/jenkins.out")"
# Bad input: one line, documented status, no backtrace.
status=0; echo '{"not": "a payload"' | env -i "$bin/consul-critical" > /dev/null 2> "$tmp/err" || status=$?
[ $status -eq 65 ] || fail "consul-critical on bad JSON exited $status, not 65"
[ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "consul-critical on bad JSON wrote more than one line: $(cat "$tmp/err")"
echo "release-check: $bin runs with an empty environment and no Swift libraries"
