"""End-to-end tests of waitline on Docker Swarm: the real images, stacks, proxy and Redis.

The session brings up its own deployment and removes it at the end, data included. It never
touches a developer's: every stack, network, volume and secret it makes is prefixed with its own
project name (WAITLINE_E2E_PROJECT, default "wle2e"), its proxy listens on its own ports (18080 and
18443 by default), and its secrets live in .secrets/<project>/. Requests go to 127.0.0.1 only, or
to containers and networks the tests made. Every API call goes over HTTPS, checked against the
certificate `make up` made (its names include 127.0.0.1); plain HTTP only redirects.

  WAITLINE_E2E_PROJECT      project prefix (default wle2e; never "waitline", the default deployment)
  WAITLINE_E2E_HTTP_PORT    published HTTP port (default 18080), WAITLINE_E2E_HTTPS_PORT (18443)
                            the monitoring stack runs the test profile (short intervals and
                            `for:`), its chat webhook points at the test's sink; Prometheus and
                            Alertmanager are read through the proxy (monitoring_get/post)
  WAITLINE_E2E_KEEP=1       leave the deployment running after the tests (to look at it)
  WAITLINE_E2E_REUSE=1      use the test project's deployment left running by a previous run
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
PROJECT = os.environ.get("WAITLINE_E2E_PROJECT", "wle2e")
HTTP_PORT = int(os.environ.get("WAITLINE_E2E_HTTP_PORT", "18080"))
HTTPS_PORT = int(os.environ.get("WAITLINE_E2E_HTTPS_PORT", "18443"))
# Where Alertmanager posts chat notifications: the webhook sink test_observability.py starts on
# the monitoring network (until then the name does not resolve and posts fail, harmlessly).
CHAT_WEBHOOK_URL = "http://chat-sink:8080/hooks/waitline"
SECRETS = ROOT / ".secrets" / PROJECT
# The proxy's HTTPS address and the certificate to check it with.
URL = f"https://127.0.0.1:{HTTPS_PORT}"
CA = str(SECRETS / "tls.crt")
# The platforms and queues deployed: deploy/platforms.conf, through its one reader.
sys.path.insert(0, str(ROOT / "scripts" / "platform"))
import platforms as platforms_conf  # noqa: E402

DESCRIBED = platforms_conf.load(ROOT / "deploy" / "platforms.conf")
PLATFORMS = DESCRIBED.names
QUEUES = DESCRIBED.queues

assert PROJECT != "waitline", "the end-to-end tests must not use the default deployment's project name"


FIGURES: list[str] = []


def figure(line: str):
    """A measured figure worth reading after the run (printed at the end of pytest's report)."""
    FIGURES.append(line)


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("waitline end-to-end figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e.update(WAITLINE_PROJECT=PROJECT, WAITLINE_HTTP_PORT=str(HTTP_PORT), WAITLINE_HTTPS_PORT=str(HTTPS_PORT),
             WAITLINE_SECRETS_DIR=str(SECRETS), WAITLINE_MONITORING_PROFILE="test", **extra)
    return e


def run(*cmd: str, check: bool = True, timeout: float = 600, extra_env: dict[str, str] | None = None,
        **kw) -> subprocess.CompletedProcess:
    """Runs a command in the repository with the test project's environment (and extra_env); output
    captured."""
    p = subprocess.run(cmd, cwd=ROOT, env=env(**(extra_env or {})), capture_output=True, text=True,
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}\n--- stdout\n{p.stdout[-4000:]}\n--- stderr\n{p.stderr[-4000:]}")
    return p


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    return run("docker", *args, check=check, timeout=timeout).stdout.strip()


def service(platform: str, name: str) -> str:
    return f"{PROJECT}-{platform}_{name}"


def images() -> dict[str, str]:
    out = {}
    for line in (ROOT / ".cache" / "images.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k] = v
    return out


def platforms_env() -> dict[str, str]:
    """Every value of deploy/platforms.conf: <platform>_KEY for a platform's, KEY for a shared one."""
    return DESCRIBED.flat()


def redis_cli(platform: str, user: str, *commands: str) -> list[str]:
    """Runs `commands` (one per line, as typed at redis-cli) against the platform's Redis as one of
    its ACL users (password from the project's secrets; user None: no login), from a throwaway
    container on the platform's back network. Returns the replies' lines."""
    login, mount = "", []
    if user is not None:
        pw = SECRETS / platform / "redis" / f"{user}.password"
        login, mount = f"REDISCLI_AUTH=$(cat /run/pw) exec redis-cli -h redis --user {user} --no-auth-warning", \
            ["-v", f"{pw}:/run/pw:ro"]
    else:
        login = "exec redis-cli -h redis"
    p = run("docker", "run", "--rm", "-i", "--network", f"{PROJECT}-{platform}_back", "--user", "0:0", *mount,
            "--entrypoint", "sh", images()["WAITLINE_REDIS_IMAGE"], "-c", login,
            input="\n".join(commands) + "\n", timeout=60)
    # Without a terminal redis-cli follows each error reply with an empty line: replies only.
    return [line for line in (p.stdout + p.stderr).splitlines() if line.strip()]


def running_tasks(svc: str) -> list[str]:
    """IDs of the service's tasks that are running now."""
    out = docker("service", "ps", svc, "--filter", "desired-state=running", "--format", "{{.ID}} {{.CurrentState}}")
    return [line.split()[0] for line in out.splitlines() if " Running" in line]


def containers_of(svc: str) -> list[str]:
    return docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={svc}").split()


def wait_for(predicate, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Api:
    """A client of one platform and queue, through the proxy on 127.0.0.1."""
    platform: str
    queue: str
    key: str
    read_key: str
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def base(self) -> str:
        return f"{URL}/{self.queue}"

    @property
    def host(self) -> str:
        return f"{self.platform}.localhost"

    def request(self, method: str, path: str, key: str | None = None, timeout: float = 10, **kw) -> requests.Response:
        headers = {"Host": self.host, **kw.pop("headers", {})}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        kw.setdefault("verify", CA)
        return self.session.request(method, self.base + path, headers=headers, timeout=timeout, **kw)

    def take(self) -> int:
        r = self.request("POST", "/get_ticket", self.key)
        assert r.status_code == 200, r.text
        assert r.json()["queue"] == self.queue
        return r.json()["ticket"]

    def call(self) -> int | None:
        r = self.request("POST", "/call_ticket", self.key)
        assert r.status_code == 200, r.text
        return r.json()["ticket"]

    def list(self, limit: int = 1000) -> dict:
        r = self.request("GET", f"/list_tickets?limit={limit}", self.read_key)
        assert r.status_code == 200, r.text
        return r.json()

    def drain(self) -> list[int]:
        """Calls every waiting ticket; returns them in the order called."""
        called = []
        while (t := self.call()) is not None:
            called.append(t)
        return called


def monitoring_request(method: str, service: str, path: str, auth: bool = True, **kw) -> requests.Response:
    """A request to Prometheus, Alertmanager or Grafana through the proxy, on its host name, with
    the monitoring password (auth=False: without any)."""
    creds = ("monitoring", (SECRETS / "monitoring_password").read_text().strip()) if auth else None
    kw.setdefault("timeout", 15)
    return requests.request(method, f"{URL}{path}", headers={"Host": f"{service}.localhost", **kw.pop("headers", {})},
                            auth=creds, verify=CA, **kw)


def monitoring_get(service: str, path: str, **kw) -> requests.Response:
    return monitoring_request("GET", service, path, **kw)


def prometheus_query(expr: str) -> list[dict]:
    """An instant query of the test project's Prometheus, through the proxy: its result list."""
    # The proxy lets a client through to the monitoring a few requests a second (burst 50): a test
    # that asks for every panel of the dashboards waits when it is told to, as a browser would.
    for _ in range(30):
        r = monitoring_get("prometheus", "/api/v1/query", params={"query": expr}, timeout=15)
        if r.status_code != 429:
            break
        time.sleep(float(r.headers.get("Retry-After", "1")))
    body = r.json()
    assert body["status"] == "success", (expr, body)
    return body["data"]["result"]


class Deployment:
    def __init__(self, up_output: str = ""):
        self.up_output = up_output   # what `swarm.sh up` printed
        self.keys: dict[tuple[str, str, str], str] = {}
        for platform in PLATFORMS:
            for line in (SECRETS / platform / "api-keys.txt").read_text().splitlines():
                if line and not line.startswith("#"):
                    owner, queue, name, key = line.split()
                    assert owner == platform, f"{platform}/api-keys.txt holds a key of {owner}"
                    self.keys[(platform, queue, name)] = key

    def api(self, platform: str, queue: str) -> Api:
        return Api(platform, queue, self.keys[(platform, queue, "desk")], self.keys[(platform, queue, "screen")])

    def up(self):
        run("scripts/platform/secrets.sh")
        run("scripts/platform/swarm.sh", "up", timeout=900)

    def down(self):
        run("scripts/platform/swarm.sh", "down", timeout=300)


@pytest.fixture(scope="session")
def deployment():
    """The whole platform, up: engine, base image, images, secrets, stacks (as `make up` does)."""
    started = time.monotonic()
    run("scripts/setup/docker-engine.sh", timeout=300)
    if not (ROOT / ".cache" / "images.env").exists() or os.environ.get("WAITLINE_E2E_BUILD") == "1":
        # `make test-e2e` builds the images first; a bare pytest run builds them here.
        if not (ROOT / "node_modules" / "swagger-ui-dist").exists():
            run("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error", timeout=600)
        run("scripts/setup/base-image.sh", timeout=900)
        run("scripts/setup/images.sh", timeout=1800)
    if os.environ.get("WAITLINE_E2E_REUSE") != "1":
        # A previous run that was interrupted may have left its stacks and data: start clean.
        run("scripts/platform/swarm.sh", "destroy", timeout=300)
        shutil.rmtree(SECRETS, ignore_errors=True)
    # secrets.sh keeps an existing file: the test project's chat notifications go to the sink.
    # Owner-only, as secrets.sh would make them.
    SECRETS.mkdir(mode=0o700, parents=True, exist_ok=True)
    (SECRETS / "alertmanager").mkdir(mode=0o700, exist_ok=True)
    (SECRETS / "alertmanager" / "chat_webhook_url").write_text(CHAT_WEBHOOK_URL + "\n")
    run("scripts/platform/secrets.sh")
    up = run("scripts/platform/swarm.sh", "up", timeout=900)
    d = Deployment(up.stdout + up.stderr)
    figure(f"deployment of project {PROJECT} up in {time.monotonic() - started:.0f} s "
           f"(engine, images, secrets, 5 stacks, 24 services)")
    yield d
    if os.environ.get("WAITLINE_E2E_KEEP") == "1":
        print(f"e2e: leaving project {PROJECT} running (WAITLINE_E2E_KEEP=1)")
        return
    run("scripts/platform/swarm.sh", "destroy", timeout=300, check=False)
    shutil.rmtree(SECRETS, ignore_errors=True)


class Load:
    """Continuous concurrent takes through the proxy until stopped: what a busy morning looks like.

    acknowledged: ticket numbers the service answered 200 for; failures: every other outcome.
    """

    def __init__(self, api: Api, workers: int = 4, pause: float = 0.005):
        self.api, self.workers, self.pause = api, workers, pause
        self.acknowledged: list[int] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]

    def _work(self):
        s = requests.Session()
        api = Api(self.api.platform, self.api.queue, self.api.key, self.api.read_key, s)
        while not self._stop.is_set():
            try:
                r = api.request("POST", "/get_ticket", api.key, timeout=15)
                if r.status_code == 200:
                    with self._lock:
                        self.acknowledged.append(r.json()["ticket"])
                else:
                    with self._lock:
                        self.failures.append(f"{r.status_code} {r.text.strip()[:200]}")
            except requests.RequestException as e:
                with self._lock:
                    self.failures.append(f"{type(e).__name__}: {e}")
            time.sleep(self.pause)

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def count(self) -> int:
        with self._lock:
            return len(self.acknowledged)

    def wait_requests(self, n: int, timeout: float = 60):
        wait_for(lambda: self.count() >= n, timeout, f"{n} acknowledged takes", 0.1)


def json_of(text: str):
    return json.loads(text)
