"""Issue 4 (R13, R14) on the real stack: Prometheus finds every target by DNS, every dashboard panel
has data, and a production Redis outage reaches a mailbox and a chat channel, then resolves.

The session's monitoring stack runs the test profile (WAITLINE_MONITORING_PROFILE=test: the same
rules and routes, with 2 s scrapes and `for:` capped at 5 s). Prometheus and Alertmanager are read
through the proxy (HTTPS, their host names, the monitoring password); the mail and chat sinks are
containers this module starts on the monitoring network.
"""
from __future__ import annotations

import email
import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (PLATFORMS, PROJECT, QUEUES, ROOT, Load, docker, figure, monitoring_get, run, service, wait_for,
                      prometheus_query as query)
from dashboard_queries import empty_panels, panel_queries

MONITORING_NETWORK = f"{PROJECT}-monitoring_monitoring"
SINK_IMAGE = "waitline-e2e-sinks:latest"


def targets(job: str) -> list[dict]:
    active = monitoring_get("prometheus", "/api/v1/targets", params={"state": "active"}, timeout=15).json()
    return [t for t in active["data"]["activeTargets"] if t["labels"]["job"] == job]


def healthy(job: str) -> list[dict]:
    return [t for t in targets(job) if t["health"] == "up"]


@pytest.fixture(scope="module")
def prometheus(deployment):
    wait_for(lambda: monitoring_get("prometheus", "/-/ready", timeout=5).ok, 120, "Prometheus ready")
    # Every queue replica, Redis exporter and the node seen at least once.
    wait_for(lambda: len(healthy("waitline")) >= 12 and len(healthy("redis")) == 3, 120, "the first scrapes")
    return "prometheus"


def rule_for(root: Path, alert: str) -> int:
    """The `for:` of an alert rule under root, in seconds (the test profile writes seconds)."""
    for path in (root / "prometheus" / "rules").glob("*.rules.yml"):
        m = re.search(rf"- alert: {alert}\n(?:(?!\s*- alert:).*\n)*?\s*for:\s*(\d+)s", path.read_text())
        if m:
            return int(m.group(1))
    raise AssertionError(f"no rule {alert} with a for: in seconds under {root}")


def test_the_test_profile_shortens_only_durations_of_copies_that_promtool_and_amtool_accept(tmp_path):
    out = tmp_path / "test-profile"
    run("scripts/platform/swarm.sh", "render-monitoring", "test", str(out))
    prod = tmp_path / "production"
    run("scripts/platform/swarm.sh", "render-monitoring", "production", str(prod))
    source = ROOT / "observability"
    rules = sorted((source / "prometheus" / "rules").glob("*.rules.yml"))
    assert rules, "no rule files"
    for original in [source / "prometheus" / "prometheus.yml", source / "alertmanager" / "alertmanager.yml", *rules]:
        rel = original.relative_to(source)
        deployed, copy = (prod / rel).read_text().splitlines(), (out / rel).read_text().splitlines()
        assert len(deployed) == len(copy)
        for before, after in ((a, b) for a, b in zip(deployed, copy) if a != b):
            key = before.split(":")[0].strip(" -")
            assert key in ("for", "scrape_interval", "evaluation_interval", "scrape_timeout", "refresh_interval",
                           "group_wait", "group_interval", "repeat_interval"), (before, after)
    copies = [str(out / r.relative_to(source)) for r in rules]
    fors = {c: re.findall(r"^\s*for:\s*(\S+)", Path(c).read_text(), re.M) for c in copies}
    assert all(re.fullmatch(r"([1-9]|10)s", f) for fs in fors.values() for f in fs), fors
    # Divided before capped: a cause still fires before its consequences, so inhibition holds.
    assert rule_for(out, "WaitlineRedisDown") < rule_for(out, "WaitlineErrorBudgetBurn"), fors
    run("promtool", "check", "rules", *copies)
    run("promtool", "check", "config", str(out / "prometheus" / "prometheus.yml"))
    run("amtool", "check-config", str(out / "alertmanager" / "alertmanager.yml"))
    # The production profile is the sources themselves, but for the queues' targets: one name per
    # platform and queue of deploy/platforms.conf.
    for path in source.rglob("*"):
        if path.suffix in (".yml", ".json") and (prod / path.relative_to(source)).exists() and path.name != "prometheus.yml":
            assert (prod / path.relative_to(source)).read_bytes() == path.read_bytes(), path
    changed = [(a, b) for a, b in zip((source / "prometheus" / "prometheus.yml").read_text().splitlines(),
                                      (prod / "prometheus" / "prometheus.yml").read_text().splitlines()) if a != b]
    names = ", ".join(f"{p}-{q}" for p in PLATFORMS for q in QUEUES)
    assert changed == [('      - names: ["<platform>-<queue>"]', f"      - names: [{names}]")], changed


def test_every_target_is_found_by_dns_with_the_contract_labels(prometheus):
    queue_targets = healthy("waitline")
    assert sorted((t["labels"]["platform"], t["labels"]["queue"]) for t in queue_targets) == \
        sorted((p, q) for p in PLATFORMS for q in QUEUES)
    assert sorted(t["labels"]["platform"] for t in healthy("redis")) == sorted(PLATFORMS)
    assert len(healthy("node")) == int(docker("info", "--format", "{{.Swarm.Nodes}}"))
    assert len(healthy("engine")) == 1
    running = query('sum(engine_daemon_container_states_containers{state="running"})')
    assert float(running[0]["value"][1]) >= 20, running
    assert query('redis_up{platform="prod"}')[0]["value"][1] == "1"
    figure(f"Prometheus targets up: {len(queue_targets)} queues, {len(healthy('redis'))} redis_exporters, "
           f"{len(healthy('node'))} node_exporter, {len(healthy('engine'))} engine ({running[0]['value'][1]} containers running)")


def test_scaling_a_queue_adds_its_replicas_as_targets_without_any_config_change(prometheus):
    svc = service("prod", "rubis")

    def rubis_targets() -> int:
        return len([t for t in healthy("waitline") if t["labels"]["platform"] == "prod" and t["labels"]["queue"] == "rubis"])

    config_before = monitoring_get("prometheus", "/api/v1/status/config", timeout=10).json()["data"]["yaml"]
    try:
        run("scripts/platform/swarm.sh", "scale", "prod", "rubis", "2", timeout=300)
        wait_for(lambda: rubis_targets() == 2, 60, "two prod rubis targets")
    finally:
        run("scripts/platform/swarm.sh", "scale", "prod", "rubis", "1", timeout=300)
    wait_for(lambda: rubis_targets() == 1, 60, "one prod rubis target again")
    assert monitoring_get("prometheus", "/api/v1/status/config", timeout=10).json()["data"]["yaml"] == config_before
    assert docker("service", "inspect", svc, "--format", "{{.Spec.Mode.Replicated.Replicas}}") == "1"


# The brief's five signals (R13), how long people wait (R23), and the overview panels that show them
# (docs/livrables/guide-observabilite.md quotes what a run printed for each).
SIGNAL_PANELS = {
    "database response time": ["Temps de réponse de Redis vu par le service, p50 / p99"],
    "request rate": ["Débit des requêtes par file, route et code"],
    "running containers": ["Conteneurs en cours d'exécution par plateforme et service"],
    "memory and CPU": ["CPU par service (cœurs)", "Mémoire par service"],
    "queue size": ["Taille actuelle des files"],
    "how long people wait": ["Attente réelle des visiteurs, p50 / p90"],
}


def signal_figures(board: dict, variables: dict) -> list[str]:
    """Each signal panel's first query as Prometheus answers it now: series count and value range."""
    lines = []
    for signal, titles in SIGNAL_PANELS.items():
        for title in titles:
            expr = next(e for t, e in panel_queries(board, variables) if t == title)
            result = [float(r["value"][1]) for r in query(expr)]
            # NaN: a quantile of a command that had no call in the window (e.g. SCRIPT LOAD).
            values = sorted(v for v in result if v == v)
            shown = f"{values[0]:.4g} .. {values[-1]:.4g}" if values else "no value"
            lines.append(f"R13 {signal} ({variables['platform']}/{variables['queue']}), {title!r}: "
                         f"{len(result)} series ({len(result) - len(values)} NaN), {shown}")
    return lines


def test_every_panel_of_every_dashboard_has_data_after_traffic(prometheus, deployment):
    for platform in PLATFORMS:
        for queue in QUEUES:
            api = deployment.api(platform, queue)
            for _ in range(3):
                api.take()
            api.call()
            api.list()
            # An unauthenticated call: a 4xx in the error-ratio panels.
            api.request("POST", "/get_ticket")
    # rate() needs two scrapes of the new counters (2 s apart in the test profile).
    time.sleep(8)
    dashboards = sorted((ROOT / "observability" / "dashboards").glob("*.json"))
    assert dashboards
    checked, empty = empty_panels(dashboards, query, PLATFORMS, QUEUES)
    figure(f"dashboards: {checked} panel queries over {len(dashboards)} dashboards, {len(empty)} empty")
    # A few seconds of steady takes on prod/rubis, so that rates are read across several scrapes.
    with Load(deployment.api("prod", "rubis"), workers=2, pause=0.05):
        time.sleep(12)
    overview = json.loads((ROOT / "observability" / "dashboards" / "waitline-overview.json").read_text())
    for line in signal_figures(overview, {"platform": "prod", "queue": "rubis"}):
        figure(line)
    assert not empty, "panels without data:\n" + "\n".join(empty)


# --- alerting --------------------------------------------------------------------------------------
def sink_messages(name: str) -> list[dict]:
    out = docker("exec", name, "python3", "-c",
                 "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8025/messages').read().decode())")
    return json.loads(out)


def mail_text(message: dict) -> str:
    """Recipient, subject and decoded text of every part of a received mail."""
    parsed = email.message_from_string(message["body"])
    parts = [p.get_payload(decode=True) for p in parsed.walk() if not p.is_multipart()]
    return " ".join([",".join(message["to"]), parsed.get("Subject", "")] +
                    [p.decode(errors="replace") for p in parts if p])


def firing_in_prometheus(alertname: str, platform: str, queue: str | None = None) -> bool:
    alerts = monitoring_get("prometheus", "/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    return any(a["labels"]["alertname"] == alertname and a["labels"].get("platform") == platform
               and (queue is None or a["labels"].get("queue") == queue) and a["state"] == "firing" for a in alerts)


def alertmanager_alerts() -> list[dict]:
    return monitoring_get("alertmanager", "/api/v2/alerts", timeout=10).json()


@pytest.fixture
def sinks(deployment):
    """The mail relay (alias smtp-relay, as alertmanager.yml's smarthost) and the chat webhook (alias
    chat-sink, the URL conftest put in the project's secret), on the internal monitoring network."""
    run("docker", "build", "-q", "-t", SINK_IMAGE, "tests/e2e/sinks", timeout=600)
    names = {"smtp": f"{PROJECT}-sink-smtp", "webhook": f"{PROJECT}-sink-chat"}
    aliases = {"smtp": "smtp-relay", "webhook": "chat-sink"}
    for kind, name in names.items():
        docker("rm", "-f", name, check=False)
        docker("run", "-d", "--name", name, "--network", MONITORING_NETWORK, "--network-alias", aliases[kind],
               "--memory", "64m", "--cpus", "0.2", SINK_IMAGE, kind)
    for name in names.values():
        wait_for(lambda: subprocess.run(["docker", "exec", name, "python3", "-c",
                                         "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8025/messages')"],
                                        capture_output=True).returncode == 0, 30, f"{name} listening")
    yield names
    for name in names.values():
        docker("rm", "-f", name, check=False)


def burning_prod(queue: str) -> list[dict]:
    return [a for a in alertmanager_alerts() if a["labels"]["alertname"] == "WaitlineErrorBudgetBurn"
            and a["labels"].get("platform") == "prod" and a["labels"].get("queue") == queue]


def burn_free_prod_queue() -> str:
    """A production queue that answered no 5xx in the burn alert's longest window (6 h): its burn
    alert can then only be this outage's consequence. An earlier test (or run, on a reused stack)
    that made a queue fail makes that queue unfit, never the assertions below optional."""
    failed = {r["metric"].get("queue") for r in query(
        'sum by (queue) (increase(http_requests_total{platform="prod", code=~"5.."}[6h])) > 0')}
    clean = [q for q in QUEUES if q not in failed]
    assert clean, f"every production queue answered 5xx within 6 h ({sorted(failed)}): the inhibition cannot be told apart"
    return clean[0]


def set_redis(platform: str, replicas: int):
    docker("service", "scale", "-d", f"{service(platform, 'redis')}={replicas}")


def test_a_production_redis_outage_reaches_mail_and_chat_and_its_end_too(deployment, prometheus, sinks):
    started = time.monotonic()
    # Only what is sent from now on, and only about alerts this outage causes.
    seen = {kind: len(sink_messages(name)) for kind, name in sinks.items()}
    queue = burn_free_prod_queue()
    assert not burning_prod(queue) and not firing_in_prometheus("WaitlineErrorBudgetBurn", "prod", queue)
    try:
        # Development loses its Redis too: its alert must stay off the on-call mail and the chat.
        set_redis("prod", 0)
        set_redis("dev", 0)
        # Production keeps being used: the service answers 503 (until Swarm replaces the replicas
        # that fail their health check), which burns the error budget, so the burn-rate alert
        # fires too, and Alertmanager must hold it back as a consequence of Redis being down.
        prod = deployment.api("prod", queue)
        refused, deadline = 0, time.monotonic() + 30
        while refused < 30 and time.monotonic() < deadline:
            r = prod.request("POST", "/get_ticket", prod.key)
            refused += r.status_code == 503 and r.json()["error"]["code"] == "redis_unavailable"
            time.sleep(0.1)
        assert refused >= 10, f"only {refused} takes refused with 503 redis_unavailable while Redis was down"
        wait_for(lambda: firing_in_prometheus("WaitlineRedisDown", "prod"), 90, "WaitlineRedisDown{prod} firing")
        wait_for(lambda: firing_in_prometheus("WaitlineRedisDown", "dev"), 60, "WaitlineRedisDown{dev} firing")
        wait_for(lambda: any(a["labels"]["alertname"] == "WaitlineRedisDown" and a["labels"].get("platform") == "prod"
                             for a in alertmanager_alerts()), 30, "the alert in Alertmanager")

        def mails_about(word: str) -> list[str]:
            texts = [mail_text(m) for m in sink_messages(sinks["smtp"])]
            return [t for t in texts if "oncall@" in t and "WaitlineRedisDown" in t and "prod" in t and word in t.upper()]

        def chats_about(word: str) -> list[dict]:
            posts = [json.loads(m["body"]) for m in sink_messages(sinks["webhook"])]
            return [p for p in posts if "WaitlineRedisDown" in json.dumps(p) and "prod" in json.dumps(p)
                    and word in json.dumps(p).upper()]

        wait_for(lambda: mails_about("FIRING"), 60, "the on-call mail about prod's Redis")
        chat = wait_for(lambda: chats_about("FIRING"), 60, "the chat message about prod's Redis")
        # Slack's incoming-webhook format: attachments with a title and text.
        assert chat[0]["attachments"][0]["title"], chat[0]
        figure(f"prod Redis down -> mail and chat in {time.monotonic() - started:.0f} s")

        # The queue's error-ratio alert fires, and is inhibited by Redis-down: never sent.
        wait_for(lambda: firing_in_prometheus("WaitlineErrorBudgetBurn", "prod", queue), 90,
                 f"WaitlineErrorBudgetBurn{{prod, {queue}}} firing in Prometheus")
        wait_for(lambda: burning_prod(queue), 30, f"WaitlineErrorBudgetBurn{{prod, {queue}}} in Alertmanager")
        time.sleep(5)  # longer than the test profile's group_wait and group_interval: it would have gone out
        for a in burning_prod(queue):
            assert a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"], a
        sent = [json.dumps(m) for m in sink_messages(sinks["webhook"])[seen["webhook"]:]] + \
               [mail_text(m) for m in sink_messages(sinks["smtp"])[seen["smtp"]:]]
        about_queue = [t for t in sent if "WaitlineErrorBudget" in t and re.search(rf"\b{queue}\b", t)]
        assert not about_queue, about_queue
        figure(f"prod error-budget burn alert of {queue} inhibited during the outage "
               f"({refused} takes refused with 503, {len(sent)} notifications sent, none about it)")
    finally:
        set_redis("prod", 1)
        set_redis("dev", 1)
        run("scripts/platform/swarm.sh", "wait", timeout=300)
        # Swarm may still be replacing queue replicas that failed their health checks while Redis was
        # away (a Redis joins DNS at its first check): the next test starts once every queue of both
        # platforms answers again.
        for platform in ("prod", "dev"):
            for name in QUEUES:
                api = deployment.api(platform, name)
                wait_for(lambda: api.request("GET", "/list_tickets", api.read_key).status_code == 200, 120,
                         f"{platform}/{name} answering again")
    resolved_at = time.monotonic()
    wait_for(lambda: mails_about("RESOLVED"), 90, "the resolved mail")
    wait_for(lambda: chats_about("RESOLVED"), 90, "the resolved chat message")
    figure(f"prod Redis back -> resolved mail and chat in {time.monotonic() - resolved_at:.0f} s")
    # Nothing about development or qualification reached the on-call mail or the chat.
    on_call = [mail_text(m) for m in sink_messages(sinks["smtp"]) if "oncall@" in ",".join(m["to"])]
    chats = [m["body"] for m in sink_messages(sinks["webhook"])]
    assert not [t for t in on_call + chats if re.search(r"\b(dev|qualif)\b", t)], (on_call, chats)
