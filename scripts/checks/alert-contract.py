#!/usr/bin/env python3
"""The alerting contract that promtool cannot check (scripts/checks/observability.sh runs it).

    scripts/checks/alert-contract.py RUNBOOKS_DIR RULE_FILES... -- TEST_FILES...

Every alert has a severity label, a summary, a description and a runbook_url naming
RUNBOOKS_DIR/<alert>.md, which exists and is indexed in RUNBOOKS_DIR/README.md; every alert has a
test where it fires and one where it stays silent; recording rules of one family differ only by
their window; `for:` is plain (1m). Prints a one-line summary; exits 1 with one line per breach.
"""
import os
import re
import sys

import yaml

if len(sys.argv) < 3 or "--" not in sys.argv[2:]:
    sys.exit(__doc__.strip().split("\n\n")[1].strip())
runbooks_dir = sys.argv[1]
split = sys.argv.index("--", 2)
rule_files, test_files = sys.argv[2:split], sys.argv[split + 1:]
breaches = []

def load(path):
    with open(path) as f:
        return yaml.safe_load(f)

alerts, records = {}, {}
for path in rule_files:
    doc = load(path)
    # The Helm chart copies `groups` into a PrometheusRule's spec.groups: nothing else may be here.
    if set(doc) != {"groups"}:
        breaches.append(f"{path}: top-level keys {sorted(doc)}, only 'groups' is allowed")
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                records[rule["record"]] = rule["expr"]
                continue
            name = rule["alert"]
            if name in alerts:
                breaches.append(f"{path}: alert {name} defined twice")
            alerts[name] = rule
            where = f"{path}: alert {name}"
            if rule.get("labels", {}).get("severity") not in ("critical", "warning"):
                breaches.append(f"{where}: severity label must be critical or warning")
            annotations = rule.get("annotations", {})
            for key in ("summary", "description", "runbook_url"):
                if not str(annotations.get(key, "")).strip():
                    breaches.append(f"{where}: no {key} annotation")
            runbook = f"{runbooks_dir}/{name}.md"
            if not re.search(rf"(^|/){re.escape(runbook)}$", str(annotations.get("runbook_url", ""))):
                breaches.append(f"{where}: runbook_url must end with {runbook}")
            if not os.path.isfile(runbook):
                breaches.append(f"{where}: {runbook} does not exist")
            # The end-to-end profile shortens `for:` by rewriting this exact form.
            if "for" in rule and not re.fullmatch(r"\d+[smh]", str(rule["for"])):
                breaches.append(f"{where}: for: {rule['for']!r} is not a plain duration like 1m")

# Recording rules written once per window (name ending _rate<window>) must differ only by it.
families = {}
for name, expr in records.items():
    m = re.fullmatch(r"(.+_rate)(\d+[smhd])", name)
    if m:
        families.setdefault(m[1], []).append((m[2], expr))
for family, members in families.items():
    ref_window, ref_expr = members[0]
    for window, expr in members[1:]:
        if expr != ref_expr.replace(f"[{ref_window}]", f"[{window}]"):
            breaches.append(f"recording rule {family}{window} differs from {family}{ref_window} "
                            f"by more than its window")

index_path = f"{runbooks_dir}/README.md"
index = open(index_path).read() if os.path.isfile(index_path) else ""
for name in alerts:
    if f"({name}.md)" not in index:
        breaches.append(f"{index_path}: no link to {name}.md")
for entry in sorted(os.listdir(runbooks_dir)):
    if entry.endswith(".md") and entry != "README.md" and entry[:-3] not in alerts:
        breaches.append(f"{runbooks_dir}/{entry}: no alert of that name")

fires, silent, cases = set(), set(), 0
for path in test_files:
    for group in load(path).get("tests", []):
        for case in group.get("alert_rule_test", []):
            cases += 1
            name = case["alertname"]
            if name not in alerts:
                breaches.append(f"{path}: test of unknown alert {name}")
            (fires if case.get("exp_alerts") else silent).add(name)
for name in alerts:
    if name not in fires:
        breaches.append(f"alert {name}: no test where it fires (non-empty exp_alerts)")
    if name not in silent:
        breaches.append(f"alert {name}: no test where it stays silent (exp_alerts: [])")

if breaches:
    print("\n".join(breaches), file=sys.stderr)
    sys.exit(1)
print(f"{len(records) + len(alerts)} rules ({len(records)} recording, {len(alerts)} alerts), "
      f"{cases} alert tests")
