#!/usr/bin/env bash
# examples/prometheus checked by Debian's promtool: the scrape configuration (its syntax as
# shipped, then in full with the token file it names made real in a temporary copy), the alert
# rules, and the rules' unit tests. Exits 77 (skipped) without promtool.
set -euo pipefail
examples=$1
promtool=/usr/bin/promtool
if [[ ! -x $promtool ]]; then
  echo "skipped: $promtool is not installed"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$promtool" check config --syntax-only "$examples/prometheus.yml"
cp "$examples"/prometheus.yml "$examples"/hijackguard.rules.yml "$work"/
echo "a-token-for-the-check" >"$work/hijackguard.token"
sed -i "s|credentials_file: /etc/prometheus/hijackguard.token|credentials_file: $work/hijackguard.token|" \
  "$work/prometheus.yml"
grep -q "credentials_file: $work/hijackguard.token" "$work/prometheus.yml"
"$promtool" check config "$work/prometheus.yml"
"$promtool" check rules "$examples/hijackguard.rules.yml"
(cd "$examples" && "$promtool" test rules hijackguard.rules.test.yml)
echo "examples/prometheus: configuration, rules and rule tests pass"
