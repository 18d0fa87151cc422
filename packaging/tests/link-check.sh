#!/bin/sh
# Fails if an executable links full Foundation, FoundationInternationalization or ICU: they
# cost start-up time on every delivery and ~20 MB of binary (docs/install.md).
#   packaging/tests/link-check.sh EXECUTABLE...
# A dynamic executable is judged by its DT_NEEDED entries (readelf -d); a static one (no
# libswiftCore among them) by its symbols, so give it the unstripped binary.
set -eu
forbidden='FoundationInternationalization|_FoundationICU|libFoundation\.so|FoundationNetworking|libicu'
status=0
for exe in "$@"; do
    needed=$(readelf -d "$exe" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p')
    if bad=$(printf '%s\n' "$needed" | grep -E "$forbidden"); then
        echo "link-check: $exe links $(echo $bad)"; status=1
    elif ! printf '%s\n' "$needed" | grep -q libswiftCore; then
        symbols=$(nm "$exe" 2>/dev/null | grep -cE 'FoundationInternationalization|_FoundationICU|ucal_open|ubrk_open' || true)
        if [ "$(nm "$exe" 2>/dev/null | head -1)" = "" ]; then
            echo "link-check: $exe is static and stripped: give the unstripped binary"; status=1
        elif [ "$symbols" -ne 0 ]; then
            echo "link-check: $exe (static) contains $symbols FoundationInternationalization/ICU symbols"; status=1
        fi
    fi
done
[ $status -eq 0 ] && echo "link-check: $# executable(s), none links Foundation's ICU"
exit $status
