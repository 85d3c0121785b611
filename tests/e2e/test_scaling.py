"""Acceptance 7 (R10): scaling, killing a replica and a rolling update, all under continuous load."""
import json
import subprocess

from conftest import (Load, containers_of, docker, figure, images, run, running_tasks, service, wait_for)
from test_persistence import assert_all_present


def _served_by(container: str, since: str) -> int:
    """How many takes this replica logged since `since` (its access log, one JSON line each)."""
    p = subprocess.run(["docker", "logs", "--since", since, container], capture_output=True, text=True)
    return sum(1 for line in (p.stdout + p.stderr).splitlines() if '"route":"/get_ticket"' in line)


def _now() -> str:
    """The engine's clock (docker logs --since reads it), to the second."""
    return docker("run", "--rm", "--entrypoint", "date", images()["WAITLINE_REDIS_IMAGE"], "-u", "+%Y-%m-%dT%H:%M:%SZ")


def test_three_replicas_under_continuous_load_issue_unique_tickets_and_lose_none(deployment):
    api = deployment.api("prod", "rubis")
    svc = service("prod", "rubis")
    api.drain()
    since = _now()
    with Load(api, workers=6) as load:
        load.wait_requests(100)
        out = run("make", "scale", "PLATFORM=prod", "QUEUE=rubis", "REPLICAS=3", timeout=300).stdout
        assert "3/3 replicas running" in out, out
        assert len(running_tasks(svc)) == 3
        scaled = _now()
        n = load.count()
        load.wait_requests(n + 1500, timeout=120)
    ack = load.acknowledged
    assert not load.failures, load.failures[:5]
    assert len(ack) == len(set(ack)), "the same ticket number was issued twice"
    called = api.drain()
    assert len(called) == len(set(called)), "a ticket was called twice"
    assert not set(ack) - set(called), "acknowledged tickets lost"
    served = {c[:12]: _served_by(c, since) for c in containers_of(svc)}
    assert len(served) == 3 and all(v > 0 for v in served.values()), served
    # Once scaled, the proxy spreads the takes over the three (round robin over Swarm's DNS); the
    # totals above also hold the first replica's takes from before the scale.
    after = {c[:12]: _served_by(c, scaled) for c in containers_of(svc)}
    assert all(v >= sum(after.values()) / 6 for v in after.values()), after
    figure(f"scale prod/rubis 1->3 under load: {len(ack)} takes acknowledged, 0 failed, all unique, "
           f"all called once; per replica: {sorted(served.values())}, after the scale: {sorted(after.values())}")


def test_killing_a_replica_under_load_loses_no_acknowledged_ticket_and_swarm_replaces_it(deployment):
    api = deployment.api("prod", "rubis")
    svc = service("prod", "rubis")
    if len(running_tasks(svc)) != 3:
        run("make", "scale", "PLATFORM=prod", "QUEUE=rubis", "REPLICAS=3", timeout=300)
    api.drain()
    before = set(running_tasks(svc))
    with Load(api, workers=6) as load:
        load.wait_requests(100)
        victim = containers_of(svc)[0]
        docker("kill", "-s", "KILL", victim)
        wait_for(lambda: len(now := set(running_tasks(svc))) == 3 and now != before and [1], 120,
                 "Swarm to replace the killed replica")
        assert victim not in containers_of(svc)
        n = load.count()
        load.wait_requests(n + 300, timeout=120)
    ack = load.acknowledged
    assert len(ack) == len(set(ack))
    called = api.drain()
    assert not set(ack) - set(called), "acknowledged tickets lost"
    # Only requests in flight on (or just routed to) the killed replica may fail, cleanly, and they
    # were never acknowledged.
    assert all(f.startswith(("502 ", "503 ", "504 ")) for f in load.failures), load.failures[:5]
    assert len(load.failures) < len(ack) / 10, load.failures[:5]
    figure(f"kill -9 one of 3 prod/rubis replicas under load: {len(ack)} acknowledged, none lost, "
           f"{len(load.failures)} in-flight failed; replaced by Swarm")


def test_a_rolling_update_to_a_new_image_tag_fails_no_request(deployment):
    """start-first, gated by the health check: the new task must be healthy before the old stops."""
    svc = service("prod", "saphir")
    update = json.loads(docker("service", "inspect", svc))[0]["Spec"]["UpdateConfig"]
    assert update["Order"] == "start-first" and update["FailureAction"] == "rollback"
    current = images()["WAITLINE_IMAGE"]
    new_tag = current.rsplit(":", 1)[0] + ":e2e-next"
    subprocess.run(["docker", "build", "-q", "-t", new_tag, "-"], check=True, capture_output=True, text=True,
                   input=f"FROM {current}\nLABEL org.opencontainers.image.version=e2e-next\n")
    api = deployment.api("prod", "saphir")
    old_tasks = set(running_tasks(svc))
    with Load(api, workers=6) as load:
        load.wait_requests(100)
        docker("service", "update", "-d", "--no-resolve-image", "--image", new_tag, svc)
        wait_for(lambda: docker("service", "inspect", svc, "--format",
                                "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}") == "completed",
                 180, "the rolling update to complete", 0.5)
        n = load.count()
        load.wait_requests(n + 100)
    assert not load.failures, f"{len(load.failures)} failed requests: {load.failures[:5]}"
    tasks = running_tasks(svc)
    assert tasks and not set(tasks) & old_tasks
    for t in tasks:
        assert docker("inspect", "--format", "{{.Spec.ContainerSpec.Image}}", t) == new_tag
    ack = load.acknowledged
    assert len(ack) == len(set(ack))
    assert_all_present(api, ack)
    figure(f"rolling update of prod/saphir to {new_tag.split(':')[1]} (start-first): "
           f"{len(ack)} takes during it, 0 failed")
