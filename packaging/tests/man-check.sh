#!/bin/sh
# Every option that a command's --help names must be in its man page.
#   packaging/tests/man-check.sh BIN_DIR MAN_DIR
# BIN_DIR holds the five commands; MAN_DIR their NAME.1 or NAME.1.gz pages.
set -eu
bin=$1 man=$2
status=0
for c in consul-critical consul-jenkins consul-redeploy consul-log consul-heal; do
    page=$man/$c.1
    if [ -f "$page.gz" ]; then text=$(gzip -dc "$page.gz"); elif [ -f "$page" ]; then text=$(cat "$page"); else
        echo "man-check: $c: no man page in $man"; status=1; continue
    fi
    # roff source to words: \- is a hyphen, \fB/\fR are fonts, \e a backslash.
    text=$(printf '%s\n' "$text" | sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\e/\\/g')
    options=$(env -i "$bin/$c" --help | grep -oE '(^|[ [(,])--?[A-Za-z][A-Za-z0-9-]*' | sed 's/^[ [(,]//' | sort -u)
    [ -n "$options" ] || { echo "man-check: $c --help names no option"; status=1; }
    for option in $options; do
        printf '%s\n' "$text" | grep -qE -- "(^|[^A-Za-z0-9-])$option([^A-Za-z0-9-]|\$)" || {
            echo "man-check: $c: $option is in --help but not in $page"; status=1; }
    done
    printf '%s\n' "$text" | grep -q "^\.TH $(echo "$c" | tr a-z A-Z) 1 " || { echo "man-check: $c: no .TH header"; status=1; }
done
[ $status -eq 0 ] && echo "man-check: every option of every --help is in its man page"
exit $status
