#!/usr/bin/env python3
"""The platforms and their queues, from deploy/platforms.conf: the one reader of that file.

    scripts/platform/platforms.py shell                 bash assignments, which the scripts eval:
                                                        platforms=(...) queues=(...) <platform>_KEY=...
                                                        label_<queue>=... for a queue given a label
                                                        and the row names: service_settings=(WAITLINE_...)
                                                        platform_keys=(the other rows)
    scripts/platform/platforms.py json                  all of it as JSON (tests/k8s reads it so)
    scripts/platform/platforms.py helm-values PLATFORM  the chart's values that come from the file, as a
                                                        values file (JSON), for scripts/platform/k8s.sh

From Python (the test suites): put scripts/platform on sys.path, then `platforms.load()`.
WAITLINE_PLATFORMS_FILE names another file in the same format (a test that adds a queue reads a
copy). A malformed file is refused with its line number; nothing is read from anywhere else.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FILE = ROOT / "deploy" / "platforms.conf"
# The platforms are fixed (R7): the stacks' networks, the Helm values files, the Gateway and the
# certificate name them. Their order in the file only orders the columns.
PLATFORMS = ("dev", "qualif", "prod")
QUEUE_NAME = re.compile(r"^[a-z][a-z0-9]{0,30}$")
# A queue's label, as people read it: letters (accented too), digits, spaces and ' ’ . - ( ); no
# quote, backslash or $, which the stack file and the shell would read.
LABEL = re.compile(r"^[^\W_](?:[^\W_]|[ '’.()-])*$")
LABEL_BYTES = 64  # the service's limit (--queue-label)
# Names a queue cannot take: the platform's other services and Redis users.
RESERVED = ("redis", "exporter", "backup", "healthcheck", "default", "replica", "sentinel")
KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")
# A row every consumer of a platform needs (the service's WAITLINE_* rows are free).
REQUIRED = ("QUEUE_CPUS", "QUEUE_MEMORY_MB", "QUEUE_RES_CPUS", "QUEUE_RES_MEMORY_MB",
            "REDIS_CPUS", "REDIS_MEMORY_MB", "REDIS_RES_CPUS", "REDIS_RES_MEMORY_MB",
            "REDIS_EXPORTER_CPUS", "REDIS_EXPORTER_MEMORY_MB", "REDIS_EXPORTER_RES_CPUS",
            "REDIS_EXPORTER_RES_MEMORY_MB", "REDIS_MAXMEMORY_MB", "REDIS_APPENDFSYNC",
            "REDIS_REPLICATED", "REDIS_MIN_REPLICAS_MAX_LAG", "SENTINEL_DOWN_AFTER_MS",
            "SENTINEL_CPUS", "SENTINEL_MEMORY_MB", "SENTINEL_RES_CPUS", "SENTINEL_RES_MEMORY_MB")


class Malformed(Exception):
    pass


@dataclass
class Platforms:
    path: Path
    names: tuple[str, ...] = ()                 # the platforms, in the file's column order
    queues: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)                # queue -> its label, when given
    settings: dict[str, dict[str, str]] = field(default_factory=dict)   # platform -> KEY -> value
    shared: dict[str, str] = field(default_factory=dict)                # KEY -> value, for all

    def service_env(self, platform: str) -> dict[str, str]:
        """The queue service's environment on that platform: its WAITLINE_* rows."""
        return {k: v for k, v in self.settings[platform].items() if k.startswith("WAITLINE_")}

    def flat(self) -> dict[str, str]:
        """Every value under one name: <platform>_KEY for a row, KEY for a shared value."""
        out = {f"{p}_{k}": v for p in self.names for k, v in self.settings[p].items()}
        out.update(self.shared)
        return out


def load(path: Path | str | None = None) -> Platforms:
    path = Path(path or os.environ.get("WAITLINE_PLATFORMS_FILE") or DEFAULT_FILE)
    p = Platforms(path)
    rows: list[tuple[int, str, list[str]]] = []
    queues: list[str] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        where = f"{path}:{number}"
        head, rest = words[0], words[1:]
        if head == "queue":
            if not rest or not QUEUE_NAME.match(rest[0]):
                raise Malformed(f"{where}: `queue NAME [LABEL]`, NAME of lowercase letters and digits, starting with a "
                                f"letter, at most 31 characters: {line.strip()!r}")
            label = " ".join(rest[1:])
            if label and (not LABEL.match(label) or len(label.encode()) > LABEL_BYTES):
                raise Malformed(f"{where}: the label {label!r} of queue {rest[0]}: letters, digits, spaces and "
                                f"' ’ . - ( ), starting with a letter or digit, at most {LABEL_BYTES} bytes")
            if label:
                p.labels[rest[0]] = label
            if rest[0] in RESERVED:
                raise Malformed(f"{where}: {rest[0]} is a name of the platform's own ({', '.join(RESERVED)}): "
                                "not a queue's")
            if rest[0] in queues:
                raise Malformed(f"{where}: queue {rest[0]} is listed twice")
            queues.append(rest[0])
        elif head == "platform":
            if p.names:
                raise Malformed(f"{where}: a second `platform` line")
            if sorted(rest) != sorted(PLATFORMS):
                raise Malformed(f"{where}: the platforms are {', '.join(PLATFORMS)} (R7), each once; "
                                "another one is a change of the stacks and the chart, not of this file")
            p.names = tuple(rest)
        elif "=" in head and not rest:
            key, value = head.split("=", 1)
            if not KEY.match(key) or not value:
                raise Malformed(f"{where}: `KEY=VALUE` with KEY in capitals: {line.strip()!r}")
            if key in p.shared:
                raise Malformed(f"{where}: {key} is set twice")
            p.shared[key] = value
        elif KEY.match(head) and rest:
            rows.append((number, head, rest))
        else:
            raise Malformed(f"{where}: not a queue, platform, `KEY value...` or `KEY=VALUE` line: {line.strip()!r}")
    if not p.names:
        raise Malformed(f"{path}: no `platform` line naming the columns")
    if not queues:
        raise Malformed(f"{path}: no queue")
    p.queues = tuple(queues)
    p.settings = {name: {} for name in p.names}
    for number, key, values in rows:
        if len(values) != len(p.names):
            raise Malformed(f"{path}:{number}: {key} has {len(values)} values for {len(p.names)} platforms "
                            f"({' '.join(p.names)})")
        if key in p.settings[p.names[0]] or key in p.shared:
            raise Malformed(f"{path}:{number}: {key} is set twice")
        for name, value in zip(p.names, values):
            p.settings[name][key] = value
    missing = [k for k in REQUIRED if k not in p.settings[p.names[0]]]
    if missing:
        raise Malformed(f"{path}: no row for {', '.join(missing)}")
    return p


def shell(p: Platforms) -> str:
    q = shlex.quote
    lines = [f"platforms=({' '.join(p.names)})",
             f"queues=({' '.join(p.queues)})",
             *(f"label_{queue}={q(label)}" for queue, label in p.labels.items()),
             f"service_settings=({' '.join(p.service_env(p.names[0]))})",
             f"platform_keys=({' '.join(k for k in p.settings[p.names[0]] if not k.startswith('WAITLINE_'))})"]
    lines += [f"{k}={q(v)}" for k, v in p.flat().items()]
    return "\n".join(lines) + "\n"


def millicores(cpus: str) -> str:
    return f"{round(float(cpus) * 1000)}m"


def resources(settings: dict[str, str], prefix: str) -> dict:
    """A Kubernetes resources block: the limit and what is set aside (the request)."""
    return {"requests": {"cpu": millicores(settings[f"{prefix}_RES_CPUS"]), "memory": f"{settings[f'{prefix}_RES_MEMORY_MB']}Mi"},
            "limits": {"cpu": millicores(settings[f"{prefix}_CPUS"]), "memory": f"{settings[f'{prefix}_MEMORY_MB']}Mi"}}


def helm_values(p: Platforms, platform: str) -> dict:
    s = p.settings[platform]
    return {
        "platform": platform,
        "queues": list(p.queues),
        "queueOverrides": {queue: {"env": {"WAITLINE_QUEUE_LABEL": label}} for queue, label in p.labels.items()},
        "queueDefaults": {"env": p.service_env(platform), "resources": resources(s, "QUEUE")},
        "redis": {"appendfsync": s["REDIS_APPENDFSYNC"], "maxmemory": f"{s['REDIS_MAXMEMORY_MB']}mb",
                  "resources": resources(s, "REDIS"),
                  "exporter": {"resources": resources(s, "REDIS_EXPORTER")},
                  "replication": {"enabled": s["REDIS_REPLICATED"] == "true",
                                  "minReplicasMaxLag": int(s["REDIS_MIN_REPLICAS_MAX_LAG"]),
                                  "downAfterMilliseconds": int(s["SENTINEL_DOWN_AFTER_MS"]),
                                  "sentinelResources": resources(s, "SENTINEL")}},
    }


def main() -> None:
    args = sys.argv[1:]
    try:
        p = load()
        if args == ["shell"]:
            sys.stdout.write(shell(p))
        elif args == ["json"]:
            print(json.dumps({"platforms": p.names, "queues": p.queues, "labels": p.labels,
                              "settings": p.settings, "shared": p.shared}, indent=2))
        elif len(args) == 2 and args[0] == "helm-values" and args[1] in p.names:
            print(json.dumps(helm_values(p, args[1]), indent=2))
        else:
            sys.exit(__doc__.split("\n\n")[1])
    except (Malformed, OSError) as e:
        sys.exit(f"platforms: {e}")


if __name__ == "__main__":
    main()
