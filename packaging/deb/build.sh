#!/bin/sh
# Builds the Debian package from a release laid out by packaging/release.sh:
#   packaging/deb/build.sh STAGE VERSION DIST [REVISION]
# STAGE is dist/consul-handlers-VERSION-linux-ARCH (bin/, share/). Writes
# DIST/consul-handlers_VERSION-REVISION_DEBARCH.deb with `dpkg-deb --root-owner-group --build`.
set -eu
stage=$1 dist=$3
version=$2-${4:-1}
here=$(cd "$(dirname "$0")" && pwd)
packaging=$(dirname "$here")
commands="consul-critical consul-jenkins consul-redeploy consul-log consul-heal"
arch=$(dpkg --print-architecture)
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$here" log -1 --format=%ct 2>/dev/null || date +%s)}
root=$dist/deb-root
rm -rf "$root"
umask 022

install -d "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/man/man1" "$root/etc/consul-handlers" \
    "$root/lib/systemd/system" "$root/usr/share/doc/consul-handlers/examples"
install -m 0755 "$stage/bin/consul-handlers" "$root/usr/bin/consul-handlers"
for c in $commands; do ln -s consul-handlers "$root/usr/bin/$c"; done
for page in "$stage"/share/man/man1/*.1; do
    gzip -9nc "$page" > "$root/usr/share/man/man1/$(basename "$page").gz"
done
install -m 0644 "$packaging/etc/consul-heal.json" "$root/etc/consul-handlers/consul-heal.json"
install -m 0644 "$packaging"/systemd/*.service "$packaging"/systemd/*.timer "$root/lib/systemd/system/"
install -m 0644 "$here/copyright" "$root/usr/share/doc/consul-handlers/copyright"
sed -e "s/@VERSION@/$version/" -e "s/@DATE@/$(date -u -R -d "@$epoch")/" "$here/changelog" \
    | gzip -9n > "$root/usr/share/doc/consul-handlers/changelog.Debian.gz"
install -m 0644 "$packaging/../docs/install.md" "$root/usr/share/doc/consul-handlers/install.md"
install -m 0644 "$packaging"/../handlers/watches-*.json "$root/usr/share/doc/consul-handlers/examples/"

# Depends from what the binary really needs: the highest GLIBC_ and GLIBCXX_ symbol versions.
glibc=$(objdump -T "$root/usr/bin/consul-handlers" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
depends="libc6 (>= $glibc), libgcc-s1, libstdc++6 (>= 11), adduser"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
    "$here/control.in" > "$root/DEBIAN/control"
echo /etc/consul-handlers/consul-heal.json > "$root/DEBIAN/conffiles"
install -m 0755 "$here/postinst" "$here/postrm" "$here/prerm" "$root/DEBIAN/"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort | xargs md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
find "$root" -exec touch -h -d "@$epoch" {} +

deb=$dist/consul-handlers_${version}_$arch.deb
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
rm -rf "$root"
(cd "$dist" && sha256sum -- *.tar.gz $(ls -- *.deb 2>/dev/null) > SHA256SUMS)
echo "deb: $deb ($(wc -c < "$deb") bytes)"
