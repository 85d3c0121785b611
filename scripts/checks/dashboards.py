#!/usr/bin/env python3
"""Static checks of the Grafana dashboards in observability/dashboards/ (part of `make test`).

    python3 scripts/checks/dashboards.py

Fails (exit 1, one line per problem) unless:
  - every *.json equals observability/dashboards/generate.py's output, the panel table of
    docs/livrables/guide-observabilite.md included (the JSON is generated, never edited by hand);
  - each file is a dashboard with a unique uid and unique panel ids, rows' panels included;
  - it declares the variables datasource (type datasource), platform and queue;
  - every panel and every target uses the datasource "${datasource}", every panel has a
    description, every target an expression;
  - every rate(), irate() and increase() window is [$__rate_interval];
  - every expression, variables substituted, is valid PromQL to promtool (as a recording rule);
  - the queries that prefer kube-state-metrics or cAdvisor and fall back on the services' and
    exporters' own figures pick the right one, mapping names to platform and service:
    promtool evaluates them on synthetic series (FALLBACK_CASES);
  - the substitution itself (tests/e2e/dashboard_queries.py) passes its doctests.
The proof that each query returns data is the end-to-end suite's, on the live stack.
"""
from __future__ import annotations

import doctest
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "observability" / "dashboards"
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import dashboard_queries  # noqa: E402  (the same substitution as the e2e test)
from dashboard_queries import panel_queries  # noqa: E402

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
REQUIRED_VARIABLES = {"datasource": "datasource", "platform": "query", "queue": "query"}
RATE_CALL = re.compile(r"\b(?:rate|irate|increase)\s*\(")


def windows_of_rate_calls(expr: str) -> list[str]:
    """The range window of each rate/irate/increase call: the last [...] inside its parentheses."""
    found = []
    for call in RATE_CALL.finditer(expr):
        depth, end = 1, call.end()
        while depth and end < len(expr):
            depth += {"(": 1, ")": -1}.get(expr[end], 0)
            end += 1
        found += re.findall(r"\[([^\]]*)\]", expr[call.end():end])[-1:] or ["(none)"]
    return found


def all_panels(panels: list[dict]):
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def check(path: Path, board: dict, uids: set[str]) -> list[str]:
    problems = []
    uid = board.get("uid")
    if not uid or uid in uids:
        problems.append(f"uid {uid!r} missing or not unique")
    uids.add(uid)
    declared = {v.get("name"): v.get("type") for v in board.get("templating", {}).get("list", [])}
    problems += [f"variable {name} (type {kind}) missing" for name, kind in REQUIRED_VARIABLES.items()
                 if declared.get(name) != kind]
    ids = [p.get("id") for p in all_panels(board.get("panels", []))]
    problems += [f"panel id {i} not unique" for i in sorted({i for i in ids if ids.count(i) > 1})]
    for panel in all_panels(board.get("panels", [])):
        if panel.get("type") == "row":
            continue
        title = panel.get("title")
        if panel.get("datasource") != DATASOURCE:
            problems.append(f"{title}: datasource is not {DATASOURCE}")
        if not panel.get("description"):
            problems.append(f"{title}: no description")
        if not panel.get("targets"):
            problems.append(f"{title}: no targets")
        for target in panel.get("targets", []):
            expr = target.get("expr", "")
            if target.get("datasource") != DATASOURCE:
                problems.append(f"{title} {target.get('refId')}: datasource is not {DATASOURCE}")
            if not expr:
                problems.append(f"{title} {target.get('refId')}: no expr")
            problems += [f"{title}: window [{w}] is not [$__rate_interval] in {expr}"
                         for w in windows_of_rate_calls(expr) if w != "$__rate_interval"]
    return [f"{path.relative_to(ROOT)}: {p}" for p in problems]


def promql_problems(queries: list[tuple[str, str, str]]) -> list[str]:
    """promtool's verdict on every (file, title, expr), each made a recording rule."""
    rules = {"groups": [{"name": "dashboard_queries", "rules": [
        {"record": f"dashboard:query_{n}", "expr": expr} for n, (_, _, expr) in enumerate(queries)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".rules.yml") as file:
        json.dump(rules, file)  # JSON is YAML
        file.flush()
        result = subprocess.run(["promtool", "check", "rules", file.name], capture_output=True, text=True)
    if result.returncode == 0:
        return []
    named = {f"dashboard:query_{n}": f"{name} / {title}" for n, (name, title, _) in enumerate(queries)}
    report = re.sub(r"dashboard:query_\d+", lambda m: f"{m.group(0)} ({named[m.group(0)]})", result.stdout + result.stderr)
    return [f"promtool check rules: {report.strip()}"]


def series(metric: str, value: int, **labels: str) -> dict:
    return {"series": metric + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}", "values": f"{value}x3"}


SWARM_SERVICE = "container_label_com_docker_swarm_service_name"
# Panels whose query takes the best source present and falls back with `or`: the series given to
# promtool, and the answer expected with platform=prod and queue=All. The Swarm stack here has
# neither cAdvisor nor kube-state-metrics, so the end-to-end suite proves only the last fallback.
FALLBACK_CASES = {
    "Mémoire par service": ([
        # cAdvisor: two rubis containers and Redis in prod (a project name with a dash), one in dev.
        series("container_memory_working_set_bytes", 100, **{SWARM_SERVICE: "waitline-prod_rubis", "name": "a"}),
        series("container_memory_working_set_bytes", 50, **{SWARM_SERVICE: "waitline-prod_rubis", "name": "b"}),
        series("container_memory_working_set_bytes", 30, **{SWARM_SERVICE: "my-corp-prod_redis", "name": "c"}),
        series("container_memory_working_set_bytes", 7, **{SWARM_SERVICE: "waitline-dev_rubis", "name": "d"}),
        # The services' and exporters' own: hidden where cAdvisor has the service, else shown.
        series("process_resident_memory_bytes", 999, platform="prod", queue="rubis", instance="x"),
        series("process_resident_memory_bytes", 20, platform="prod", queue="saphir", instance="y"),
        series("process_resident_memory_bytes", 5, platform="prod", instance="redis-exporter"),
        series("redis_memory_used_rss_bytes", 40, platform="prod"),
    ], {"rubis": 150, "redis": 30, "saphir": 20}),
    "Conteneurs en cours d'exécution par plateforme et service": ([
        # kube-state-metrics: rubis's Deployment has 3 available replicas, 2 of them scraped.
        series("kube_deployment_status_replicas_available", 3, namespace="wl-prod", deployment="wl-prod-rubis"),
        series("kube_deployment_labels", 1, namespace="wl-prod", deployment="wl-prod-rubis",
               label_waitline_platform="prod", label_waitline_queue="rubis"),
        series("kube_deployment_status_replicas_available", 9, namespace="other", deployment="unrelated"),
        series("kube_deployment_labels", 1, namespace="other", deployment="unrelated"),
        series("waitline_build_info", 1, platform="prod", queue="rubis", instance="a"),
        series("waitline_build_info", 1, platform="prod", queue="rubis", instance="b"),
        series("waitline_build_info", 1, platform="prod", queue="saphir", instance="c"),
        series("redis_up", 1, platform="prod"),
    ], {"rubis": 3, "saphir": 1, "redis": 1}),
}


def fallback_problems(board: dict) -> list[str]:
    queries = dict(panel_queries(board, {"platform": "prod", "queue": "$__all"}))
    tests = [{"interval": "1m", "input_series": inputs, "promql_expr_test": [
        {"expr": queries[title], "eval_time": "2m", "exp_samples": [
            {"labels": f'{{platform="prod", service="{service}"}}', "value": value}
            for service, value in expected.items()]}]}
        for title, (inputs, expected) in FALLBACK_CASES.items()]
    with tempfile.NamedTemporaryFile("w", suffix=".test.yml") as file:
        json.dump({"tests": tests}, file)
        file.flush()
        result = subprocess.run(["promtool", "test", "rules", file.name], capture_output=True, text=True)
    return [] if result.returncode == 0 else [f"{', '.join(FALLBACK_CASES)}: best source first: "
                                              f"{result.stdout}{result.stderr}"]


def main() -> int:
    problems = []
    failed, _ = doctest.testmod(dashboard_queries)
    if failed:
        problems.append(f"tests/e2e/dashboard_queries.py: {failed} doctest(s) failed")
    generated = subprocess.run([sys.executable, str(DASHBOARDS / "generate.py"), "--check"],
                               capture_output=True, text=True)
    if generated.returncode:
        problems.append(generated.stderr.strip() or "generate.py --check failed")
    uids: set[str] = set()
    queries = []
    files = sorted(DASHBOARDS.glob("*.json"))
    for path in files:
        try:
            board = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            problems.append(f"{path.relative_to(ROOT)}: not JSON: {e}")
            continue
        problems += check(path, board, uids)
        if board.get("uid") == "waitline-overview":
            problems += fallback_problems(board)
        try:
            queries += [(path.name, title, expr) for title, expr in panel_queries(board, {})]
        except ValueError as e:
            problems.append(f"{path.relative_to(ROOT)}: {e}")
    if queries:
        problems += promql_problems(queries)
    for problem in problems:
        print(problem)
    print(f"{len(files)} dashboards, {len(queries)} queries: {len(problems)} problem(s)")
    return 1 if problems or not files else 0


if __name__ == "__main__":
    sys.exit(main())
