#!/usr/bin/env python3
"""Every PromQL query of a Grafana dashboard, with its variables substituted; and a check that each
returns data from a live Prometheus. Standard library only.

As a library (the end-to-end test):

    panel_queries(dashboard, {"platform": "prod", "queue": "rubis"}) -> [(panel title, PromQL), ...]

As a command (exit 1 when any query errs or returns nothing):

    python3 tests/e2e/dashboard_queries.py http://127.0.0.1:9090 observability/dashboards/*.json \\
        platform=prod queue=rubis [--allow-empty engine_daemon_]

Substitution follows Grafana's: $var, ${var}, ${var:format} and [[var]]. A value comes from the
`variables` argument, else from the dashboard's saved selection of that variable ("All" is its
allValue); pass "$__all" to ask for the All value explicitly. The built-ins default to what a
Grafana panel of a one-hour view would use: $__rate_interval 1m, $__interval 30s, $__range 5m
(and their _s/_ms forms); `variables` may override them. `$1`-style references (label_replace
replacements) are left alone; an unknown variable name is an error, not a silent broken query.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

BUILTINS = {"__rate_interval": "1m", "__interval": "30s", "__range": "5m"}
ALL = "$__all"
# Grafana's variable syntaxes: ${name} or ${name:format}, [[name]] or [[name:format]], $name.
REFERENCE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]|\$(\w+)")
DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
MILLISECONDS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
                "y": 31_536_000_000}


def _milliseconds(duration: str) -> int:
    parts = DURATION.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(n) * MILLISECONDS[u] for n, u in parts)


def _saved_value(variable: dict) -> str | None:
    """The dashboard's own selection of a template variable, as a query would see it."""
    value = variable.get("current", {}).get("value")
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else "(" + "|".join(map(re.escape, value)) + ")"
    return value


def _values(dashboard: dict, variables: dict[str, str]) -> dict[str, tuple[str, bool]]:
    """name -> (value, is it the All value, never to be escaped)."""
    declared = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    values: dict[str, tuple[str, bool]] = {}
    for name in declared.keys() | variables.keys():
        value = variables[name] if name in variables else _saved_value(declared[name])
        if value is None:  # unset (a datasource variable, say): an error only if a query uses it
            continue
        if value == ALL:
            all_value = declared.get(name, {}).get("allValue")
            if not all_value:
                raise ValueError(f"variable {name!r} has no allValue: pass a value")
            values[name] = (all_value, True)
        else:
            values[name] = (value, False)
    builtins = {**BUILTINS, **{k: v for k, v in variables.items() if k in BUILTINS}}
    for name, duration in builtins.items():
        values[name] = (duration, True)
        if name != "__rate_interval":
            ms = _milliseconds(duration)
            values[name + "_ms"] = (str(ms), True)
            values[name + "_s"] = (str(ms // 1000), True)
    return values


def substitute(text: str, values: dict[str, tuple[str, bool]]) -> str:
    """
    >>> v = {"queue": ("rubis.x", False), "all": (".+", True), "__rate_interval": ("1m", True)}
    >>> substitute('rate(a{q=~"$queue", r="${queue:regex}", s="[[queue]]"}[$__rate_interval])', v)
    'rate(a{q=~"rubis.x", r="rubis\\\\.x", s="rubis.x"}[1m])'
    >>> substitute('label_replace(up, "s", "$1", "q", "(.+)") and on(q) b{q=~"${all:regex}"}', v)
    'label_replace(up, "s", "$1", "q", "(.+)") and on(q) b{q=~".+"}'
    >>> substitute('up{q="$plaform"}', v)
    Traceback (most recent call last):
    ValueError: unknown or unset variable $plaform in: up{q="$plaform"}
    """
    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(3) or match.group(5)
        fmt = match.group(2) or match.group(4)
        if name[0].isdigit():  # a regex back-reference such as label_replace's "$1"
            return match.group(0)
        if name not in values:
            raise ValueError(f"unknown or unset variable ${name} in: {text}")
        value, verbatim = values[name]
        return re.escape(value) if fmt == "regex" and not verbatim else value

    return REFERENCE.sub(replace, text)


def _panels(panels: list[dict]):
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # a row's panels (collapsed rows hold theirs)


def panel_queries(dashboard: dict, variables: dict[str, str]) -> list[tuple[str, str]]:
    """(panel title, PromQL) for every query target of every panel, nested ones included.

    >>> row = {"type": "row", "title": "R", "collapsed": True, "panels": [
    ...     {"title": "Rate of $queue", "targets": [{"expr": "rate(x{q=~\\"$queue\\"}[$__rate_interval])"},
    ...                                           {"expr": "y[$__range_s]"}, {"refId": "no expr"}]}]}
    >>> board = {"templating": {"list": [{"name": "queue", "allValue": ".+", "current": {"value": ["$__all"]}}]},
    ...          "panels": [row, {"title": "Z", "targets": [{"expr": "z"}]}]}
    >>> panel_queries(board, {})
    [('Rate of .+', 'rate(x{q=~".+"}[1m])'), ('Rate of .+', 'y[300]'), ('Z', 'z')]
    >>> panel_queries(board, {"queue": "saphir", "__range": "1h"})[:2]
    [('Rate of saphir', 'rate(x{q=~"saphir"}[1m])'), ('Rate of saphir', 'y[3600]')]
    """
    values = _values(dashboard, variables)
    return [(substitute(panel.get("title", ""), values), substitute(target["expr"], values))
            for panel in _panels(dashboard.get("panels", []))
            for target in panel.get("targets", []) if target.get("expr")]


def query(prometheus: str, expr: str) -> list[dict]:
    """The instant-query result of expr; raises RuntimeError with Prometheus's error."""
    url = f"{prometheus.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            body = json.load(response)
    except urllib.error.HTTPError as e:
        body = json.load(e)
    if body.get("status") != "success":
        raise RuntimeError(f"{body.get('errorType')}: {body.get('error')}")
    return body["data"]["result"]


def empty_panels(dashboards: list[Path], run_query, platforms: list[str], queues: list[str]) -> tuple[int, list[str]]:
    """Every panel query of the dashboards, for prod/rubis then for all platforms and queues (the
    dashboards match with =~), through run_query(expr) -> result list: (queries run, the empty ones)."""
    empty, checked = [], 0
    for path in dashboards:
        board = json.loads(path.read_text())
        for variables in ({"platform": "prod", "queue": "rubis"},
                          {"platform": "|".join(platforms), "queue": "|".join(queues)}):
            for title, expr in panel_queries(board, variables):
                checked += 1
                if not run_query(expr):
                    empty.append(f"{path.name}: {title!r} ({variables['platform']}/{variables['queue']}): {expr}")
    return checked, empty


def main() -> int:
    parser = argparse.ArgumentParser(description="Run every panel query of Grafana dashboards on a Prometheus.")
    parser.add_argument("prometheus", help="base URL, e.g. http://127.0.0.1:9090")
    parser.add_argument("items", nargs="+", metavar="DASHBOARD.json|NAME=VALUE",
                        help="dashboard files, and variable values such as platform=prod")
    parser.add_argument("--allow-empty", action="append", default=[], metavar="TEXT",
                        help="a query containing TEXT may return nothing (repeatable), e.g. engine_daemon_")
    args = parser.parse_args()
    files = [item for item in args.items if "=" not in item]
    variables = dict(item.split("=", 1) for item in args.items if "=" in item)

    failures = 0
    for file in files:
        board = json.loads(Path(file).read_text())
        for title, expr in panel_queries(board, variables):
            try:
                series = len(query(args.prometheus, expr))
                status = "OK" if series else "EMPTY"
                detail = f"{series} series"
            except (RuntimeError, OSError) as e:
                status, detail = "ERROR", str(e)
            allowed = status == "EMPTY" and any(text in expr for text in args.allow_empty)
            failures += status != "OK" and not allowed
            print(f"{status + (' (allowed)' if allowed else ''):<16} {board.get('title', file)} / {title}: {detail}")
            if status != "OK":
                print(f"{'':<16} {expr}")
    print(f"{failures} failing quer{'y' if failures == 1 else 'ies'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
