#!/usr/bin/env bash
# `make demo`: the main job on recorded payloads. Usage: handlers/demo.sh BIN_DIR
set -euo pipefail
bin=${1:?usage: demo.sh BIN_DIR}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export DEMO_OUT="$work/redeploys.txt"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. What a 'checks' watch with state critical hands the handler when web-02's health check fails:"
echo "\$ consul-critical --format table < handlers/demo/1795700060000-48391.json"
"$bin/consul-critical" --format table < "$here/demo/1795700060000-48391.json"

step "2. The same incident as Consul delivers it over four minutes (recorded payloads in handlers/demo/):"
echo "   start-up [] → web critical → output text changed → output changed again → recovered []"
for file in "$here"/demo/*.json; do
  name=$(basename "$file" .json); index=${name#*-}
  echo "\$ CONSUL_INDEX=$index consul-heal --config handlers/demo-config.json < $(basename "$file")"
  CONSUL_INDEX=$index "$bin/consul-heal" --config "$here/demo-config.json" --state-dir "$work/state" \
    --record "$work/recorded" --journal "$work/journal.jsonl" < "$file" 2>&1 | sed 's/^/   /'
done

step "3. Redeploys that actually ran (the seed's script would have run one per delivery: 3):"
cat "$DEMO_OUT"

step "4. The decision journal (one JSON record per decision):"
cat "$work/journal.jsonl"

step "5. The state the handler keeps between runs:"
"$bin/consul-heal" status --config "$here/demo-config.json" --state-dir "$work/state"

step "6. Replaying the recorded deliveries through the policy on a virtual clock (nothing executed):"
"$bin/consul-heal" replay --config "$here/demo-config.json" "$work/recorded"

step "7. What the next delivery would decide for each check, and why (explain reads the state; nothing is run):"
CONSUL_INDEX=49000 "$bin/consul-heal" explain --config "$here/demo-config.json" --state-dir "$work/state" "$here/demo/1795700060000-48391.json" "$here/../Tests/TestSupport/Fixtures/checks-maintenance.json"
