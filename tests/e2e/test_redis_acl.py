"""The Redis commands once: each ACL user of deploy/swarm/redis-users.conf may run exactly the
commands its program sends. The deployed queue service, redis_exporter, backup and health check
(their images, arguments and environment copied from the running production stack) are run one at
a time against a Redis of this test's own, on a network of its own, that has the users
scripts/platform/secrets.sh wrote (plus one for the test); Redis counts what each sent
(INFO commandstats, reset before each) and logs what it refused (ACL LOG). The test fails when a
program sends a command its user may not run, or when a user may run a command that none sends.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import time
import uuid

import pytest
import requests

from conftest import PROJECT, SECRETS, docker, figure, run, service, wait_for

USERS = SECRETS.parent.parent / "deploy" / "swarm" / "redis-users.conf"
QUEUE = "rubis"
PLATFORM = "prod"
ADMIN = "acltest"
# AUTH and HELLO run whatever the ACL says (they log in); this test's own commands run as ADMIN.
NEEDS_NO_GRANT = {"auth", "hello"}
HARNESS = {"config|resetstat"}


def grants() -> dict[str, set[str]]:
    """user -> the commands its rules grant, from deploy/swarm/redis-users.conf (<queue> as QUEUE)."""
    out = {}
    for line in USERS.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        user, *rules = line.split()
        if "off" in rules:
            continue
        assert not [r for r in rules if r.startswith("+@")], f"{user}: grant commands one by one, not categories"
        out[user.replace("<queue>", QUEUE)] = {r[1:].lower() for r in rules if r.startswith("+")}
    return out


def spec(svc: str) -> dict:
    return json.loads(docker("service", "inspect", svc))[0]["Spec"]["TaskTemplate"]["ContainerSpec"]


class Lab:
    """This test's network and Redis; the harness's own commands go through `admin`."""

    def __init__(self, workdir):
        self.tag = f"{PROJECT}-acltest-{uuid.uuid4().hex[:6]}"
        self.network = self.tag
        self.dir = workdir
        self.containers: list[str] = []
        self.admin_password = secrets.token_hex(16)

    def secret(self, source, name: str) -> str:
        """A copy of a secret file, readable by the images' unprivileged users, mounted read-only."""
        copy = self.dir / name
        shutil.copyfile(source, copy)
        copy.chmod(0o444)
        return str(copy)

    def start(self, name: str, *args: str) -> str:
        container = f"{self.tag}-{name}"
        docker("run", "-d", "--name", container, "--network", self.network, "--network-alias", name,
               "--label", f"waitline.project={PROJECT}", *args, timeout=120)
        self.containers.append(container)
        return container

    def stop(self, container: str):
        docker("stop", "-t", "15", container, timeout=60)

    def admin(self, *command: str) -> str:
        return docker("exec", "-e", f"REDISCLI_AUTH={self.admin_password}", f"{self.tag}-redis", "redis-cli",
                      "--user", ADMIN, "--no-auth-warning", *command)

    def sent(self, phase) -> tuple[set[str], str]:
        """The commands Redis ran or refused during phase(), and its ACL log of refusals."""
        self.admin("ACL", "LOG", "RESET")
        self.admin("CONFIG", "RESETSTAT")
        try:
            phase()
        except Exception as e:
            raise AssertionError(f"{e!r}; Redis refused meanwhile: {self.admin('ACL', 'LOG') or 'nothing'}") from e
        stats = self.admin("INFO", "commandstats")
        commands = set()
        for name, fields in re.findall(r"^cmdstat_(\S+?):(\S+)", stats, re.M):
            counts = dict(kv.split("=") for kv in fields.split(","))
            if int(counts["calls"]) + int(counts.get("rejected_calls", 0)) + int(counts.get("failed_calls", 0)):
                commands.add(name)
        return commands - NEEDS_NO_GRANT - HARNESS, self.admin("ACL", "LOG")

    def remove(self):
        for container in self.containers:
            docker("rm", "-f", "-v", container, check=False)
        docker("network", "rm", self.network, check=False)


@pytest.fixture
def lab(deployment, tmp_path):
    lab = Lab(tmp_path)
    docker("network", "create", "--label", f"waitline.project={PROJECT}", lab.network)
    try:
        # The platform's users as secrets.sh wrote them, and this test's own.
        acl = (SECRETS / PLATFORM / "redis" / "users.acl").read_text().rstrip("\n")
        digest = hashlib.sha256(lab.admin_password.encode()).hexdigest()
        (tmp_path / "users.acl").write_text(f"{acl}\nuser {ADMIN} on #{digest} ~* &* +@all\n")
        redis = spec(service(PLATFORM, "redis"))
        env = [e for e in redis.get("Env", []) if not e.startswith("REDIS_MAXMEMORY")]
        lab.start("redis", *[a for e in env for a in ("-e", e)],
                  "-v", f"{lab.secret(tmp_path / 'users.acl', 'acl')}:/run/secrets/redis_acl:ro",
                  "-v", f"{lab.secret(SECRETS / PLATFORM / 'redis' / 'healthcheck.password', 'hc')}:/run/secrets/redis_healthcheck_password:ro",
                  redis["Image"], *redis.get("Args", []))
        wait_for(lambda: "PONG" in lab.admin("PING"), 60, "the test's Redis")
        yield lab
    finally:
        lab.remove()


def succeeds(*command: str) -> bool:
    return run(*command, check=False, timeout=60).returncode == 0


def get_text(url: str) -> str:
    """The body of a 200 answer at url, or "" (not listening yet, or another status)."""
    try:
        r = requests.get(url, timeout=10)
    except requests.RequestException:
        return ""
    return r.text if r.ok else ""


def read_events(response: requests.Response, count: int) -> list[str]:
    """The types of the first `count` events of an SSE stream (fewer when it stays silent 10 s)."""
    types = []
    try:
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("event:"):
                types.append(line[6:].strip())
                if len(types) == count:
                    break
    except requests.RequestException:
        pass
    response.close()
    return types


def queue_pass(lab: Lab):
    """The queue's service, as production runs it, through every route that reaches Redis."""
    queue = spec(service(PLATFORM, QUEUE))
    env = [e for e in queue.get("Env", []) if not e.startswith("WAITLINE_TRUSTED_PROXIES")]
    container = lab.start(QUEUE, *[a for e in env for a in ("-e", e)], "-p", "127.0.0.1::8000",
                          "-v", f"{lab.secret(SECRETS / PLATFORM / 'redis' / f'{QUEUE}.password', 'qpw')}:/run/secrets/redis_password:ro",
                          "-v", f"{lab.secret(SECRETS / PLATFORM / f'{QUEUE}.keys', 'keys')}:/run/secrets/api_keys:ro",
                          "-v", f"{lab.secret(SECRETS / PLATFORM / 'ticket.secret', 'ts')}:/run/secrets/ticket_secret:ro",
                          queue["Image"], *queue.get("Args", []))
    # Its API port, published on the loopback (a restart publishes it again, on another port).
    base = ""

    def publish():
        nonlocal base
        base = f"http://127.0.0.1:{docker('port', container, '8000/tcp').splitlines()[0].rsplit(':', 1)[1]}"
    publish()
    key = next(line.split()[3] for line in (SECRETS / PLATFORM / "api-keys.txt").read_text().splitlines()
               if line.split()[:3] == [PLATFORM, QUEUE, "desk"])
    auth = {"Authorization": f"Bearer {key}"}
    healthcheck = queue["Healthcheck"]["Test"][1:]
    wait_for(lambda: succeeds("docker", "exec", container, *healthcheck), 60, "the queue ready")

    def post(path: str, **headers) -> requests.Response:
        r = requests.post(f"{base}{path}", headers={**auth, **headers}, timeout=10)
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r

    # Data as the original application leaves it: a counter far along (numbers past the events'
    # retention), and tickets it called itself, whose take times this service still holds. Then
    # Redis forgets the scripts, as after its restart.
    lab.admin("SET", f"ticket_number_{QUEUE}", "20000")
    post("/get_ticket"), post("/get_ticket")
    lab.admin("RPOP", f"queue_{QUEUE}")
    lab.admin("RPOP", f"queue_{QUEUE}")
    lab.admin("SCRIPT", "FLUSH")

    def everything():
        docker("restart", "-t", "15", container, timeout=60)   # connects again: AUTH, PING
        wait_for(lambda: succeeds("docker", "exec", container, *healthcheck), 60, "the queue ready again")
        publish()
        post("/call_ticket")                        # the take times left over: more than tickets, none waiting
        for _ in range(21):                         # a day's calls: the recent calls trimmed once they hold 20
            post("/get_ticket"), post("/call_ticket")
        taken = [post("/get_ticket").json() for _ in range(3)]
        once = {"Idempotency-Key": uuid.uuid4().hex}
        post("/get_ticket", **once), post("/get_ticket", **once)     # done, then replayed
        post("/call_ticket?counter=3")
        twice = {"Idempotency-Key": uuid.uuid4().hex}
        post("/call_ticket", **twice), post("/call_ticket", **twice)
        post("/recall"), post("/recall?counter=3")
        again = {"Idempotency-Key": uuid.uuid4().hex}
        post("/recall", **again), post("/recall", **again)
        requests.get(f"{base}/list_tickets", headers=auth, timeout=10).raise_for_status()
        requests.get(f"{base}/last_called", headers=auth, timeout=10).raise_for_status()
        for ticket in taken:                        # called, and waiting
            requests.get(f"{base}{ticket['ticket_url']}", timeout=10).raise_for_status()
        screen = requests.get(f"{base}/events", headers=auth, stream=True, timeout=10)
        post("/call_ticket")
        assert read_events(screen, 2) == ["snapshot", "called"]
        resumed = requests.get(f"{base}/events", headers={**auth, "Last-Event-ID": "0-1"}, stream=True, timeout=10)
        assert len(read_events(resumed, 2)) == 2, "no event after a resume"
        mine = post("/get_ticket").json()
        phone = requests.get(f"{base}{mine['ticket_url'].replace('?', '/events?')}", stream=True, timeout=10)
        post("/call_ticket")
        assert read_events(phone, 2) == ["status", "status"]
        session = requests.post(f"{base}/session", headers=auth, timeout=10)
        assert session.status_code == 204, session.text
        docker("exec", container, *healthcheck)
        time.sleep(1)   # the live events' XREAD returns with the last call's event
        lab.stop(container)

    return everything


def test_each_redis_user_may_run_exactly_what_its_program_sends(lab):
    granted = grants()
    exporter = spec(service(PLATFORM, "redis_exporter"))
    redis_image = spec(service(PLATFORM, "redis"))["Image"]
    redis_healthcheck = spec(service(PLATFORM, "redis"))["Healthcheck"]["Test"][1:]

    def scrape_twice():
        env = [a for e in exporter.get("Env", []) for a in ("-e", e)]
        container = lab.start("exporter", *env, "-p", "127.0.0.1::9121",
                              "-v", f"{lab.secret(SECRETS / PLATFORM / 'redis' / 'exporter.password', 'epw')}:/run/secrets/redis_password:ro",
                              exporter["Image"], *exporter.get("Args", []))
        port = docker("port", container, "9121/tcp").splitlines()[0].rsplit(":", 1)[1]
        for _ in range(2):
            metrics = wait_for(lambda: get_text(f"http://127.0.0.1:{port}/metrics"), 30, "the exporter's metrics")
            assert re.search(r"^redis_up 1", metrics, re.M), metrics[-2000:]
        lab.stop(container)

    def backup():
        # As scripts/platform/swarm.sh backup runs it: a one-off container of the Redis image.
        docker("run", "--rm", "--network", lab.network, "--user", "0:0",
               "-v", f"{lab.secret(SECRETS / PLATFORM / 'redis' / 'backup.password', 'bpw')}:/run/secrets/redis_password:ro",
               "-v", f"{lab.dir}:/backup", redis_image, "backup", "/backup/snapshot.rdb", timeout=120)
        assert (lab.dir / "snapshot.rdb").stat().st_size > 0

    def healthcheck():
        docker("exec", f"{lab.tag}-redis", *redis_healthcheck)

    phases = {QUEUE: queue_pass(lab), "exporter": scrape_twice, "backup": backup, "healthcheck": healthcheck}
    assert set(phases) == set(granted), f"users of {USERS.name}: {sorted(granted)}; programs run: {sorted(phases)}"
    faults, seen = [], {}
    for user, phase in phases.items():
        sent, refused = lab.sent(phase)
        seen[user] = sent
        if refused.strip():
            faults.append(f"{user}: Redis refused commands (ACL LOG):\n{refused}")
        if sent - granted[user]:
            faults.append(f"{user} sends {sorted(sent - granted[user])}, which its user may not run")
        if granted[user] - sent:
            faults.append(f"{user} may run {sorted(granted[user] - sent)}, which it never sends")
    assert not faults, "\n".join(faults)
    figure("Redis ACL = commands sent: " + "; ".join(f"{u} {len(c)} ({' '.join(sorted(c))})" for u, c in seen.items()))
