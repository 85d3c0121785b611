#!/usr/bin/env bash
# Static checks of observability/ and docs/runbooks/, run by `make test-observability`:
#   promtool check rules   every observability/prometheus/rules/*.rules.yml
#   promtool test rules    every observability/prometheus/tests/*.test.yml
#   amtool check-config    observability/alertmanager/alertmanager.yml
#   amtool config routes test, every case of observability/alertmanager/routes.test
#   and the contract promtool cannot check: every alert has a severity label, a summary, a
#   description and a runbook_url naming docs/runbooks/<alert>.md, which exists and is indexed
#   in docs/runbooks/README.md; every alert has a test where it fires and one where it stays
#   silent; recording rules of one family differ only by their window; `for:` is plain (1m).
# Exits non-zero at the first breach, saying which. Needs promtool, amtool (Debian's prometheus
# and prometheus-alertmanager) and python3 with python3-yaml ($PYTHON, default python3).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" check-observability
cd "$root"

rules_dir=observability/prometheus/rules
tests_dir=observability/prometheus/tests
am_config=observability/alertmanager/alertmanager.yml
routes_cases=observability/alertmanager/routes.test
runbooks_dir=docs/runbooks

fail() { die "FAILED: $*"; }

shopt -s nullglob
rule_files=("$rules_dir"/*.rules.yml)
test_files=("$tests_dir"/*.test.yml)
shopt -u nullglob
((${#rule_files[@]})) || fail "no rule file in $rules_dir"
((${#test_files[@]})) || fail "no test file in $tests_dir"

promtool check rules "${rule_files[@]}" || fail "promtool check rules"
promtool test rules "${test_files[@]}" || fail "promtool test rules"
amtool check-config "$am_config" || fail "amtool check-config $am_config"

routes_total=0
while IFS= read -r line; do
  [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
  [[ $line == *"=>"* ]] || fail "$routes_cases: no '=>' in: $line"
  read -r -a labels <<<"${line%%=>*}"
  receivers=$(tr -d '[:space:]' <<<"${line##*=>}")
  [[ -n $receivers && ${#labels[@]} -gt 0 ]] || fail "$routes_cases: incomplete case: $line"
  # amtool prints the resolved receivers; on a mismatch it warns and exits 1.
  got=$(amtool config routes test --config.file="$am_config" --verify.receivers="$receivers" \
          "${labels[@]}" 2>/dev/null) \
    || fail "route of {${labels[*]}}: expected $receivers, got ${got:-nothing}"
  routes_total=$((routes_total + 1))
done <"$routes_cases"
((routes_total)) || fail "no case in $routes_cases"

contract_summary=$("${PYTHON:-python3}" scripts/checks/alert-contract.py "$runbooks_dir" "${rule_files[@]}" -- "${test_files[@]}") || fail "alert contract (lines above)"

say "OK: $contract_summary, ${#test_files[@]} test files, $routes_total routes cases"
