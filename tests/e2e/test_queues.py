"""Queues are data (R25): a queue added to deploy/platforms.conf by one line, then `make up`, answers
at https://<platform host>/<queue>/ on every platform, with its own keys, its own Redis user and
keys, and its metrics on the dashboards; the line removed, then `make up`, its services, routes,
keys and Redis user are gone and its data stays in Redis. The other queues' tickets are untouched.

The test edits a copy of the file (WAITLINE_PLATFORMS_FILE), never the repository's, and runs what
`make up` runs after building the images: scripts/platform/secrets.sh, scripts/platform/swarm.sh up.
"""
from __future__ import annotations

import difflib
import json
import time

from conftest import (PLATFORMS, PROJECT, QUEUES, ROOT, SECRETS, Deployment, docker, figure, images, prometheus_query,
                      redis_cli, run, service, wait_for)
from dashboard_queries import panel_queries

NEW = "topaze"


def make_up(platforms_file=None) -> float:
    """secrets.sh and swarm.sh up with that platforms file (None: the repository's): seconds taken."""
    extra = {"WAITLINE_PLATFORMS_FILE": str(platforms_file)} if platforms_file else {}
    started = time.monotonic()
    run("scripts/platform/secrets.sh", extra_env=extra)
    run("scripts/platform/swarm.sh", "up", timeout=900, extra_env=extra)
    return time.monotonic() - started


def tickets_of_every_queue(deployment: Deployment) -> dict[tuple[str, str], dict]:
    """What each queue of the repository's file holds: its waiting tickets, its last ticket number."""
    state = {}
    for platform in PLATFORMS:
        for queue in QUEUES:
            listed = deployment.api(platform, queue).list()
            counter = redis_cli(platform, queue, f"GET ticket_number_{queue}")
            state[(platform, queue)] = {"tickets": listed["tickets"], "waiting": listed["waiting"], "counter": counter}
    return state


def kept_in_redis(platform: str, backups) -> list[str]:
    """The removed queue's waiting tickets and counter as the platform's Redis holds them: no user
    may read them any more, so through a snapshot (scripts/platform/swarm.sh backup, the operators'
    tool) loaded into a throwaway server."""
    run("scripts/platform/swarm.sh", "backup", platform, str(backups / f"{platform}.rdb"), timeout=120)
    probe = (f"redis-server --dir /backup --dbfilename {platform}.rdb --appendonly no --save '' --port 7777 "
             f"--daemonize yes >/dev/null && until redis-cli -p 7777 ping | grep -q PONG; do sleep 0.2; done && "
             f"redis-cli -p 7777 LLEN queue_{NEW} && redis-cli -p 7777 GET ticket_number_{NEW}")
    return docker("run", "--rm", "--user", "0:0", "--network", "none", "-v", f"{backups}:/backup", "--entrypoint", "sh",
                  images()["WAITLINE_REDIS_IMAGE"], "-c", probe, timeout=120).split()


def dashboard_gaps(platform: str) -> tuple[int, list[str]]:
    """Whether the dashboards' queue variable offers the new queue on that platform (Grafana's
    label_values, asked of Prometheus as Grafana does), and the panel queries that show data for
    a queue that was there before (rubis) but none for the new one: (queries compared, gaps)."""
    gaps, compared = [], 0
    for path in sorted((ROOT / "observability" / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        variable = next(v for v in board["templating"]["list"] if v["name"] == "queue")
        selector = variable["query"].removeprefix("label_values(").rsplit(",", 1)[0].replace("$platform", platform)
        offered = {r["metric"].get("queue") for r in prometheus_query(selector)}
        if NEW not in offered:
            gaps.append(f"{path.name}: the queue variable offers {sorted(offered)} on {platform}")
        old = panel_queries(board, {"platform": platform, "queue": QUEUES[0]})
        new = panel_queries(board, {"platform": platform, "queue": NEW})
        for (title, expr_old), (_, expr_new) in zip(old, new):
            if prometheus_query(expr_old):
                compared += 1
                if not prometheus_query(expr_new):
                    gaps.append(f"{path.name}: {title!r} shows {platform}/{QUEUES[0]} but not {platform}/{NEW}")
    return compared, gaps


def test_a_queue_is_added_then_removed_by_one_line_of_the_platforms_file(deployment, tmp_path):
    source = ROOT / "deploy" / "platforms.conf"
    lines = source.read_text().splitlines(keepends=True)
    last = max(i for i, line in enumerate(lines) if line.startswith("queue "))
    edited = tmp_path / "platforms.conf"
    edited.write_text("".join(lines[:last + 1] + [f"queue {NEW}\n"] + lines[last + 1:]))
    changes = [d for d in difflib.unified_diff(source.read_text().splitlines(), edited.read_text().splitlines(),
                                               lineterm="", n=0) if d[:1] in "+-" and d[:3] not in ("+++", "---")]
    assert changes == [f"+queue {NEW}"], changes
    assert NEW not in QUEUES

    # Every queue holds a ticket, so that "untouched" has something to compare.
    for platform in PLATFORMS:
        for queue in QUEUES:
            deployment.api(platform, queue).take()
    before = tickets_of_every_queue(deployment)

    added_in = make_up(edited)
    try:
        added, panels = queue_added(deployment, before)
    finally:
        removed_in = make_up()   # whatever happened, the deployment goes back to the repository's file
    queue_removed(added, before, tmp_path)
    figure(f"queue {NEW} added by 1 line of deploy/platforms.conf: make up {added_in:.0f} s, then it answered on "
           f"{len(PLATFORMS)} platforms with its own keys and Redis user, {panels} dashboard queries with data as "
           f"for {QUEUES[0]}; removed: make up {removed_in:.0f} s, service, route, keys, Redis user and secrets gone, "
           f"its waiting tickets kept in Redis; the other {len(before)} queues' tickets untouched both times")


def queue_added(deployment: Deployment, before: dict) -> tuple[Deployment, int]:
    added = Deployment()   # the keys as secrets.sh wrote them now
    for platform in PLATFORMS:
        assert (SECRETS / platform / f"{NEW}.keys").is_file()
        api = added.api(platform, NEW)
        assert api.request("GET", "/docs").status_code == 200
        first = api.take()
        api.take()
        assert api.call() == first
        api.list()
        api.request("POST", "/get_ticket")   # a 401: the error panels have something
        # Its own Redis user, on its own keys only.
        assert redis_cli(platform, NEW, f"GET ticket_number_{NEW}") == [str(first + 1)]
        assert any("NOPERM" in line for line in redis_cli(platform, NEW, "GET ticket_number_rubis"))
        # Its keys open it and nothing else; another queue's keys do not open it.
        assert added.api(platform, "rubis").request("POST", "/get_ticket", api.key).status_code == 401
        assert api.request("POST", "/get_ticket", added.api(platform, "rubis").key).status_code == 401
    assert tickets_of_every_queue(added) == before, "adding a queue changed another queue's tickets"
    # Its metrics: a target per platform, then every dashboard panel for it.
    wait_for(lambda: len(prometheus_query(f'count by (platform) (up{{job="waitline", queue="{NEW}"}} == 1)')) == len(PLATFORMS),
             90, f"Prometheus scraping {NEW} on every platform")
    compared, gaps = 0, []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        results = [dashboard_gaps(platform) for platform in PLATFORMS]
        compared, gaps = sum(n for n, _ in results), [g for _, found in results for g in found]
        if not gaps:
            break
        time.sleep(3)
    assert compared and not gaps, "\n".join(gaps)
    # What the removal must keep, and what it must revoke.
    added.kept = {p: redis_cli(p, NEW, f"LLEN queue_{NEW}", f"GET ticket_number_{NEW}") for p in PLATFORMS}
    added.passwords = {p: (SECRETS / p / "redis" / f"{NEW}.password").read_text().strip() for p in PLATFORMS}
    return added, compared


def queue_removed(added: Deployment, before: dict, backups):
    old_key = added.api("prod", NEW).key
    for platform in PLATFORMS:
        assert docker("service", "inspect", service(platform, NEW), check=False) in ("", "[]")
        gone = added.api(platform, "rubis")   # a client that still has the removed queue's key
        gone.queue = NEW
        r = gone.request("POST", "/get_ticket", old_key)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
        # Its keys and its Redis user are revoked ...
        assert not (SECRETS / platform / f"{NEW}.keys").exists()
        assert f" {NEW} " not in (SECRETS / platform / "api-keys.txt").read_text()
        assert f"user {NEW} " not in (SECRETS / platform / "redis" / "users.acl").read_text()
        assert any("WRONGPASS" in line for line in redis_cli(platform, None, f"AUTH {NEW} {added.passwords[platform]}"))
        # ... and the Swarm secrets that held them removed ...
        assert not [n for n in docker("secret", "ls", "--format", "{{.Name}}").split()
                    if n.startswith(f"{PROJECT}-{platform}_{NEW}_")]
        # ... but its data stays in Redis.
        assert kept_in_redis(platform, backups) == added.kept[platform], added.kept[platform]
        assert added.kept[platform][0] == "1"
    assert tickets_of_every_queue(Deployment()) == before, "removing a queue changed another queue's tickets"
