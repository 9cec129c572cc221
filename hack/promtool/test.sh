#!/usr/bin/env bash
# Checks and unit-tests the alerting rules with promtool (built by build.sh on first use), and
# checks the PromQL syntax of the Grafana dashboard's queries. Exits non-zero on any failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
promtool=${PROMTOOL:-"$root/bin/promtool"}
if [ ! -x "$promtool" ]; then
  "$root/hack/promtool/build.sh" "$promtool" >/dev/null
fi

cd "$root/config/prometheus/rules"
"$promtool" check rules --lint=all --lint-fatal connecttoken.rules.yaml
"$promtool" test rules connecttoken.rules_test.yaml

# The dashboard's queries, as recording rules, so promtool parses them. The JSON is indented one
# "expr" per line; a JSON string is a valid YAML double-quoted scalar. $namespace becomes .*.
dashboard="$root/config/grafana/connect-token-operator.json"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
  echo "groups:"
  echo "- name: grafana-dashboard-queries"
  echo "  rules:"
  sed -n 's/^ *"expr": \(".*"\),\{0,1\}$/\1/p' "$dashboard" | sed 's/\$namespace/.*/g' |
    awk '{ printf "  - record: dashboard_query_%d\n    expr: %s\n", NR, $0 }'
} >"$tmp/dashboard.rules.yaml"
want=$(grep -c '"expr":' "$dashboard")
got=$(grep -c '^    expr:' "$tmp/dashboard.rules.yaml" || true)
if [ "$want" != "$got" ]; then
  echo "dashboard: extracted $got of $want queries; keep one \"expr\" per line in $dashboard" >&2
  exit 1
fi
echo "Checking the $got queries of config/grafana/connect-token-operator.json"
"$promtool" check rules --lint=none "$tmp/dashboard.rules.yaml" | sed 's/^  SUCCESS: .*/  SUCCESS: queries parse/'
