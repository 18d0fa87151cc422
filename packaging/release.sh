#!/bin/sh
# Lays out a release from the static multi-call binary and packs it:
#   packaging/release.sh BINARY VERSION ARCH DIST
# makes DIST/consul-handlers-VERSION-linux-ARCH/ (bin/, share/) and its .tar.gz, and
# DIST/SHA256SUMS. `make release` runs it; the tarball is reproducible for a given binary
# (sorted names, owner 0, mtime from SOURCE_DATE_EPOCH or the last commit, gzip -n).
set -eu
binary=$1 version=$2 arch=$3 dist=$4
here=$(cd "$(dirname "$0")" && pwd)
commands="consul-critical consul-jenkins consul-redeploy consul-log consul-heal"
name=consul-handlers-$version-linux-$arch
stage=$dist/$name
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$here" log -1 --format=%ct 2>/dev/null || date +%s)}

rm -rf "$stage" "$dist/$name.tar.gz"
mkdir -p "$stage/bin" "$stage/share/man/man1" "$stage/share/consul-handlers/systemd" "$stage/share/consul-handlers/examples"
# One binary, five names: it dispatches on argv[0] (Sources/consul-handlers/main.swift).
strip --strip-all -o "$stage/bin/consul-handlers" "$binary"
chmod 0755 "$stage/bin/consul-handlers"
for c in $commands; do ln -s consul-handlers "$stage/bin/$c"; done
for c in $commands; do
    python3 "$here/man/help2man.py" "$stage/bin/$c" "$c" "$version" "$epoch" > "$stage/share/man/man1/$c.1"
done
cp "$here/man/consul-handlers.1" "$stage/share/man/man1/consul-handlers.1"
cp "$here"/systemd/*.service "$here"/systemd/*.timer "$stage/share/consul-handlers/systemd/"
cp "$here/etc/consul-heal.json" "$here"/../handlers/watches-*.json "$stage/share/consul-handlers/examples/"
chmod 0644 "$stage"/share/man/man1/* "$stage"/share/consul-handlers/*/*
(cd "$stage" && find bin share -type f | sort | xargs sha256sum > SHA256SUMS)
find "$stage" -exec touch -h -d "@$epoch" {} +
tar -C "$dist" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -cf - "$name" | gzip -9n > "$dist/$name.tar.gz"
(cd "$dist" && sha256sum -- *.tar.gz $(ls -- *.deb 2>/dev/null) > SHA256SUMS)
echo "release: $dist/$name.tar.gz ($(wc -c < "$dist/$name.tar.gz") bytes; binary $(wc -c < "$stage/bin/consul-handlers") bytes)"
