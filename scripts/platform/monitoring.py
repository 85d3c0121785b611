#!/usr/bin/env python3
"""Writes the monitoring files the Swarm stack mounts: copies of observability/, never edited in place.

    scripts/platform/monitoring.py PROFILE OUT [--source DIR]

In every copy of prometheus.yml, a list item naming "<platform>-<queue>" becomes one item per
platform and queue of deploy/platforms.conf (dev-rubis, dev-saphir, ...): the targets follow the
queues. PROFILE is `production` (the files as they are otherwise) or `test` (the end-to-end suite's): the same files
with every duration that makes alerts slow to prove capped, on the copies: scrape and evaluation
intervals, each rule's `for:`, Alertmanager's group_wait, group_interval and repeat_interval. Only
a `key: <duration>` line longer than its cap changes. A `for:` is first divided by 12 (1m -> 5s,
2m -> 10s), then capped: alerts keep their order, so that a cause (WaitlineRedisDown, 1m) still
fires before its consequences (WaitlineErrorBudgetBurn, 2m) and Alertmanager's inhibition holds
as it does in production. scripts/platform/swarm.sh runs it before deploying the monitoring stack.
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import platforms

ROOT = Path(__file__).resolve().parents[2]
# What is copied, relative to observability/: Prometheus's configuration and rules, Alertmanager's,
# Grafana's provisioning and the dashboards.
SOURCES = ("prometheus/prometheus.yml", "prometheus/rules", "alertmanager/alertmanager.yml",
           "grafana/provisioning", "dashboards")
REQUIRED = ("prometheus/prometheus.yml", "alertmanager/alertmanager.yml")

TEST_CAPS = {"scrape_interval": "2s", "evaluation_interval": "2s", "scrape_timeout": "2s", "for": "10s",
             "refresh_interval": "2s", "group_wait": "1s", "group_interval": "2s", "repeat_interval": "10s"}
TEST_DIVISORS = {"for": 12}

UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
DURATION = re.compile(r"^(?:[0-9]+(?:ms|[smhdwy]))+")
PART = re.compile(r"([0-9]+)(ms|[smhdwy])")
KEY_LINE = re.compile(r"^([ \t]*(?:- )?([a-z_]+):[ \t]+)(.*)$")
# A one-line YAML list, e.g. `      - names: ["<platform>-<queue>"]`.
FLOW_LIST = re.compile(r"^(.*?\[)([^\]]*)(\].*)$")


def seconds(duration: str) -> float:
    """A Prometheus duration (1h30m, 500ms) in seconds."""
    return sum(int(n) * UNIT_SECONDS[unit] for n, unit in PART.findall(duration))


def capped(line: str, caps: dict[str, str], divisors: dict[str, int]) -> str:
    """The line with its duration shortened when its key has a cap; any other line as it is."""
    m = KEY_LINE.match(line)
    if not m or m[2] not in caps:
        return line
    head, key, rest = m[1], m[2], m[3]
    value = DURATION.match(rest)
    if not value:
        return line
    tail, value = rest[value.end():], value[0]
    cap = caps[key]
    if key in divisors:
        scaled = max(1, int(seconds(value) / divisors[key] + 0.999))
        if scaled < seconds(value) and scaled < seconds(cap):
            return f"{head}{scaled}s{tail}"
    if seconds(value) > seconds(cap):
        return f"{head}{cap}{tail}"
    return line


def with_targets(line: str, described: platforms.Platforms) -> str:
    """The line with each list item naming <platform> and <queue> written once per platform and queue."""
    m = FLOW_LIST.match(line)
    if not m or "<queue>" not in m[2]:
        return line
    items = []
    for item in (i.strip().strip('"') for i in m[2].split(",")):
        if "<queue>" in item:
            items += [item.replace("<platform>", p).replace("<queue>", q) for p in described.names for q in described.queues]
        else:
            items.append(item)
    return f"{m[1]}{', '.join(items)}{m[3]}"


def render(profile: str, out: Path, source: Path) -> None:
    if profile not in ("production", "test"):
        sys.exit("monitoring: PROFILE must be production or test")
    described = platforms.load()
    if out.exists():
        shutil.rmtree(out)
    files = []
    for rel in SOURCES:
        path = source / rel
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".yml", ".json"))
        elif path.is_file():
            files.append(path)
    for path in files:
        target = out / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        lines = path.read_text().split("\n")
        if path.name == "prometheus.yml":
            lines = [with_targets(line, described) for line in lines]
        if profile == "test" and path.suffix == ".yml":
            lines = [capped(line, TEST_CAPS, TEST_DIVISORS) for line in lines]
        target.write_text("\n".join(lines))
    for rel in REQUIRED:
        if not (out / rel).is_file() or not (out / rel).stat().st_size:
            sys.exit(f"monitoring: missing {source / rel}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", choices=("production", "test"))
    parser.add_argument("out", type=Path)
    parser.add_argument("--source", type=Path, default=ROOT / "observability")
    args = parser.parse_args()
    try:
        render(args.profile, args.out.resolve(), args.source.resolve())
    except platforms.Malformed as e:
        sys.exit(f"monitoring: {e}")


if __name__ == "__main__":
    main()
