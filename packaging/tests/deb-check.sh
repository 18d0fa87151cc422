#!/bin/sh
# Checks the Debian package without installing it: metadata, the paths and modes it ships,
# and its binaries extracted into a temporary root and run with an empty environment.
#   packaging/tests/deb-check.sh PACKAGE.deb FIXTURES_DIR
set -eu
deb=$1 fixtures=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "deb-check: $*"; exit 1; }
commands="consul-critical consul-jenkins consul-redeploy consul-log consul-heal"

# Metadata.
dpkg-deb --info "$deb" > "$tmp/info"
for field in 'Package: consul-handlers' 'Architecture: ' 'Depends: libc6 (>= ' 'Recommends: libssl3' 'Installed-Size: '; do
    grep -q "^ $field" "$tmp/info" || fail "control lacks '$field'"
done
dpkg-deb --field "$deb" Version | grep -qE '^[0-9]' || fail "no Version"
dpkg-deb --ctrl-tarfile "$deb" | tar -tf - | sort > "$tmp/control-files"
for f in ./conffiles ./control ./md5sums ./postinst ./postrm ./prerm; do
    grep -qx "$f" "$tmp/control-files" || fail "control archive lacks $f"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles | grep -qx /etc/consul-handlers/consul-heal.json \
    || fail "consul-heal.json is not a conffile"

# The maintainer scripts: valid sh; postinst makes the shared state and log directories.
for script in postinst postrm prerm; do
    dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - "./$script" > "$tmp/$script"
    sh -n "$tmp/$script" || fail "$script is not valid sh"
done
grep -q 'install -d -o consul -g consul -m 0700 /var/lib/consul-handlers' "$tmp/postinst" || fail "postinst: state directory"
grep -q 'install -d -o consul -g consul -m 0750 /var/log/consul-handlers' "$tmp/postinst" || fail "postinst: log directory"

# Contents: path, mode, owner (root-owner-group).
dpkg-deb --contents "$deb" > "$tmp/contents"
expect() { # MODE PATH
    line=$(awk -v p="./${2#/}" '$6 == p' "$tmp/contents")
    [ -n "$line" ] || fail "missing $2"
    case $line in "$1 root/root "*) ;; *) fail "$2: expected $1 root/root, got: $line";; esac
}
expect -rwxr-xr-x /usr/bin/consul-handlers
for c in $commands; do
    expect lrwxrwxrwx "/usr/bin/$c"
    grep -q "\./usr/bin/$c -> consul-handlers\$" "$tmp/contents" || fail "/usr/bin/$c is not a link to consul-handlers"
    expect -rw-r--r-- "/usr/share/man/man1/$c.1.gz"
done
expect -rw-r--r-- /usr/share/man/man1/consul-handlers.1.gz
expect -rw-r--r-- /etc/consul-handlers/consul-heal.json
for unit in consul-heal-serve.service consul-heal-flush.service consul-heal-flush.timer; do
    expect -rw-r--r-- "/lib/systemd/system/$unit"
done
expect -rw-r--r-- /usr/share/doc/consul-handlers/copyright
expect -rw-r--r-- /usr/share/doc/consul-handlers/changelog.Debian.gz
if grep -vE ' root/root ' "$tmp/contents"; then fail "files above are not owned by root"; fi

# Extracted binaries, empty environment, payloads through a pipe (release-check.sh).
dpkg -x "$deb" "$tmp/root"
sh "$here/release-check.sh" "$tmp/root/usr/bin" "$fixtures"
sh "$here/man-check.sh" "$tmp/root/usr/bin" "$tmp/root/usr/share/man/man1"
for page in "$tmp"/root/usr/share/man/man1/*.gz; do
    warnings=$(gzip -dc "$page" | groff -man -Tutf8 -ww -z 2>&1 || true)
    [ -z "$warnings" ] || fail "$(basename "$page"): $warnings"
done
env -i "$tmp/root/usr/bin/consul-heal" check-config --config "$tmp/root/etc/consul-handlers/consul-heal.json" > /dev/null \
    || fail "the example /etc/consul-handlers/consul-heal.json does not pass check-config"

# The units name the binary where the package puts it, and are hardened as documented.
serve=$tmp/root/lib/systemd/system/consul-heal-serve.service
for line in 'ExecStart=/usr/bin/consul-heal serve --config /etc/consul-handlers/consul-heal.json --listen 127.0.0.1:' \
    'StateDirectory=consul-handlers' 'LogsDirectory=consul-handlers' 'ProtectSystem=strict' 'ProtectHome=yes' \
    'NoNewPrivileges=yes' 'PrivateTmp=yes' 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' 'User=consul'; do
    grep -qF -- "$line" "$serve" || fail "consul-heal-serve.service lacks '$line'"
done
grep -q '^ExecStart=/usr/bin/consul-heal flush ' "$tmp/root/lib/systemd/system/consul-heal-flush.service" || fail "flush unit ExecStart"
if command -v systemd-analyze > /dev/null && systemd-analyze --version > /dev/null 2>&1; then
    # --root resolves ExecStart=/usr/bin/... in the extracted tree; the targets the units
    # name come from the host (copied into the scratch root only). Warnings fail too.
    verify=$tmp/verify
    cp -r "$tmp/root" "$verify"
    for target in /lib/systemd/system/*.target; do [ -e "$verify$target" ] || cp "$target" "$verify/lib/systemd/system/"; done
    if out=$(systemd-analyze verify --man=no --root="$verify" /lib/systemd/system/consul-heal-serve.service \
        /lib/systemd/system/consul-heal-flush.service /lib/systemd/system/consul-heal-flush.timer 2>&1) && [ -z "$out" ]; then
        echo "deb-check: systemd-analyze verify: OK"
    else
        case $out in *"System has not been booted"*|*"Failed to connect to bus"*)
            echo "deb-check: systemd-analyze verify skipped: $(printf '%s' "$out" | head -1)";;
        *) fail "systemd-analyze verify: $out";; esac
    fi
else
    echo "deb-check: systemd-analyze not available: skipped"
fi
if command -v lintian > /dev/null; then
    lintian --fail-on error,warning --suppress-tags-from-file "$here/lintian-suppressed" "$deb" || fail "lintian found errors"
    echo "deb-check: lintian: no errors"
else
    echo "deb-check: lintian not installed: skipped"
fi
echo "deb-check: $deb OK"
