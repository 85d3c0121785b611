"""The cluster suite: waitline on four simulated VMs provisioned by deploy/ansible/site.yml.

Run by `make cluster-test` after `make cluster-up` (tests/cluster/cluster.sh). Every request goes
to the VMs (containers on the private network 10.77.200.0/24 that the harness created) and
nowhere else; clients use the virtual IP of the edge nodes. Helpers: ssh to a VM, docker on a
manager, API keys, a VM power switch and a network cut that put every VM back after the test,
production's Redis as its Sentinels see it, a take/call load that records every acknowledged
ticket, and a probe that times when production answers again.
"""
from __future__ import annotations

import collections
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import urllib3
import yaml

ROOT = Path(__file__).resolve().parents[2]
# The platforms and queues deployed: deploy/platforms.conf, through its one reader.
sys.path.insert(0, str(ROOT / "scripts" / "platform"))
import platforms as platforms_conf  # noqa: E402

DESCRIBED = platforms_conf.load(ROOT / "deploy" / "platforms.conf")
PLATFORMS = DESCRIBED.names
QUEUES = DESCRIBED.queues
INVENTORY = yaml.safe_load((ROOT / "deploy/ansible/inventory/simulated.yml").read_text())
KEY = ROOT / ".cache/vm/id_ed25519"
GROUP = "wlcluster"
PROJECT = "waitline"
HOME = "/opt/waitline"
VARS = INVENTORY["all"]["vars"]
HTTPS_PORT = VARS["waitline_https_port"]
VIP = VARS["waitline_vip"].split("/")[0]
# Each node's metric files for node_exporter (deploy/ansible/group_vars/all.yml).
TEXTFILE = yaml.safe_load((ROOT / "deploy/ansible/group_vars/all.yml").read_text())["waitline_textfile_dir"]

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


def _hosts() -> dict[str, dict]:
    hosts: dict[str, dict] = {}
    for group in INVENTORY["all"]["children"].values():
        for name, spec in (group.get("hosts") or {}).items():
            if spec:
                hosts[name] = spec
    return hosts


HOSTS = _hosts()
MANAGERS = list(INVENTORY["all"]["children"]["managers"]["hosts"])
# The VM named vmN in the inventory is the container (and swarm node) wlcluster-N.
NODE = {name: f"{GROUP}-{name[2:]}" for name in HOSTS}
VM_OF_NODE = {node: name for name, node in NODE.items()}
ADDRESS = {name: spec["ansible_host"] for name, spec in HOSTS.items()}
ROLES = {name: spec["waitline_roles"] for name, spec in HOSTS.items()}
EDGES = [vm for vm in HOSTS if "edge" in ROLES[vm]]
FIGURES: list[str] = []


def figure(line: str):
    FIGURES.append(line)


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("waitline cluster figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


def ssh_argv(vm: str, command: str) -> list[str]:
    return ["ssh", "-i", str(KEY), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", f"root@{ADDRESS[vm]}", command]


def ssh(vm: str, command: str, check: bool = True, timeout: float = 120) -> str:
    p = subprocess.run(ssh_argv(vm, command), capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{vm}: {command} exited {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p.stdout.strip()


def running(vm: str) -> bool:
    out = subprocess.run(["docker", "container", "inspect", "-f", "{{.State.Running}}", NODE[vm]],
                         capture_output=True, text=True).stdout.strip()
    return out == "true"


def manager(avoid: tuple[str, ...] = ()) -> str:
    for vm in MANAGERS:
        if vm not in avoid and running(vm):
            return vm
    raise AssertionError("no manager VM is running")


def docker(command: str, avoid: tuple[str, ...] = (), check: bool = True, timeout: float = 120) -> str:
    """docker COMMAND on a running manager. A manager that a fault has left without a leader (cut
    off, or just back and catching up) answers an error: the next one is asked."""
    errors = []
    for vm in MANAGERS:
        if vm in avoid or not running(vm):
            continue
        try:
            return ssh(vm, f"docker {command}", check=check, timeout=timeout)
        except (AssertionError, subprocess.TimeoutExpired) as e:
            if "does not have a leader" not in str(e) and "timed out" not in str(e).lower():
                raise
            errors.append(str(e)[:300])
    raise AssertionError(f"no manager answered docker {command}: {errors}")


def task_nodes(service: str, avoid: tuple[str, ...] = ()) -> list[str]:
    """The VMs running the service's tasks (desired and current state running)."""
    out = docker(f"service ps {service} --filter desired-state=running --format '{{{{.Node}}}} {{{{.CurrentState}}}}'",
                 avoid=avoid)
    return [VM_OF_NODE[line.split()[0]] for line in out.splitlines() if line.split()[1:2] == ["Running"]]


def node_state(vm: str, avoid: tuple[str, ...] = ()) -> str:
    """The VM's swarm node state as a manager sees it: ready, down, unknown."""
    return docker(f"node inspect {NODE[vm]} --format '{{{{.Status.State}}}}'", avoid=avoid)


def kill_vm(vm: str):
    subprocess.run(["docker", "kill", NODE[vm]], check=True, capture_output=True)


@pytest.fixture
def power_cut():
    """kill_vm for a test; whatever the test's outcome, every VM it killed is on again and back in
    the swarm afterwards, so that one failure does not become the next tests' failures."""
    killed = []

    def cut(vm: str):
        killed.append(vm)
        kill_vm(vm)

    yield cut
    for vm in killed:
        if not running(vm):
            start_vm(vm)
        wait_for(f"{vm} back in the swarm", lambda: node_state(vm) == "ready")


def start_vm(vm: str):
    """Powers a killed VM on again and does what its boot would (no init in the simulated VM):
    empties the runtime state in /run (a tmpfs on a real machine: a stale containerd.pid whose
    number a new process now holds makes dockerd wait for that process, then give up; glusterd
    likewise takes a brick for running and never starts it), starts
    the engine, glusterd on storage nodes, the GlusterFS mounts of /etc/fstab, the checks of
    GlusterFS and of Swarm's names."""
    subprocess.run(["docker", "start", NODE[vm]], check=True, capture_output=True)
    for _ in range(60):
        if subprocess.run(["ssh", "-i", str(KEY), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=2",
                           f"root@{ADDRESS[vm]}", "true"], capture_output=True).returncode == 0:
            break
        time.sleep(1)
    ssh(vm, "rm -rf /run/docker.pid /run/docker /run/containerd /run/glusterd.pid /run/gluster /run/keepalived.pid; "
            "/usr/local/sbin/waitline-firewall /etc/waitline/nftables.conf >/dev/null; "
            "WAITLINE_SWARM_INIT=0 /usr/local/lib/waitline/scripts/setup/docker-engine.sh >/dev/null", timeout=300)
    ssh(vm, "! command -v glusterd >/dev/null || /usr/local/sbin/waitline-daemon-start glusterd glusterd -p /run/glusterd.pid")
    ssh(vm, "for i in $(seq 30); do mount -a -t glusterfs 2>/dev/null && break; sleep 2; done")
    ssh(vm, "! command -v glusterd >/dev/null || /usr/local/sbin/waitline-daemon-start waitline-gluster-metrics "
            f"/usr/local/sbin/waitline-gluster-metrics {TEXTFILE} {VARS['waitline_gluster_metrics_interval']} >/dev/null")
    ssh(vm, "! test -f /etc/keepalived/keepalived.conf || /usr/local/sbin/waitline-daemon-start keepalived keepalived >/dev/null")
    ssh(vm, "/usr/local/sbin/waitline-daemon-start waitline-swarm-names "
            f"/usr/local/sbin/waitline-swarm-names {TEXTFILE} {VARS['waitline_swarm_names_interval']} >/dev/null")


def swarm_names(vm: str, daemon: bool = False) -> dict[str, float]:
    """The metrics of the check of Swarm's names for the VM's tasks: a check made now (it
    restarts nothing), or with `daemon` the file of the one that runs there."""
    command = (f"cat {TEXTFILE}/swarm-names.prom" if daemon else
               f"/usr/local/sbin/waitline-swarm-names {TEXTFILE} once")
    return {name: float(value) for name, value in
            (line.split() for line in ssh(vm, command).splitlines() if line and not line.startswith("#"))}


def wait_for(what: str, predicate, timeout: float = 180, interval: float = 2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (AssertionError, requests.RequestException, subprocess.TimeoutExpired) as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"{what}: not true after {timeout} s (last: {last!r})")


@pytest.fixture(scope="session")
def api_keys() -> dict[tuple[str, str, str], str]:
    text = ssh(MANAGERS[0], f"cat {HOME}/.secrets/{PROJECT}/*/api-keys.txt")
    keys = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            platform, queue, name, key = line.split()
            keys[(platform, queue, name)] = key
    return keys


def proxy_address(avoid: tuple[str, ...] = ()) -> str:
    """Where clients reach the proxies: the edge nodes' virtual IP."""
    return VIP


def vip_holder() -> str | None:
    """The edge VM that holds the virtual IP now."""
    for vm in EDGES:
        if running(vm) and VIP in ssh(vm, "ip -o -4 addr show", check=False, timeout=20):
            return vm
    return None


def move_vip_off(vm: str):
    """Restarts keepalived on `vm`: the other edge node takes the virtual IP and keeps it (nopreempt)."""
    ssh(vm, "kill $(cat /run/keepalived.pid); for i in $(seq 50); do pidof keepalived >/dev/null || break; sleep 0.1; done")
    wait_for(f"the virtual IP away from {vm}", lambda: vip_holder() not in (None, vm), timeout=30, interval=0.5)
    ssh(vm, "/usr/local/sbin/waitline-daemon-start keepalived keepalived >/dev/null")


@pytest.fixture
def network_cut():
    """cut(vm) drops every packet between `vm` and the other nodes (the test host still reaches it),
    as a partition of the cluster's network would, and returns the wall-clock time (the VMs share
    the host's kernel, so its clock) at which the rules were in; healed at the end of the test
    whatever happens."""
    cut_off = []

    def cut(vm: str) -> float:
        others = ", ".join(ADDRESS[o] for o in HOSTS if o != vm)
        at = ssh(vm, "nft -f - <<'EOF'\n"
                     "table inet partition {\n"
                     f"  chain input {{ type filter hook input priority -10; ip saddr {{ {others} }} drop; }}\n"
                     f"  chain output {{ type filter hook output priority -10; ip daddr {{ {others} }} drop; }}\n"
                     "}\nEOF\ndate +%s.%N")
        cut_off.append(vm)
        return float(at)

    def heal(vm: str):
        ssh(vm, "nft delete table inet partition 2>/dev/null || true")
        cut_off.remove(vm)

    cut.heal = heal
    yield cut
    for vm in list(cut_off):
        heal(vm)


@pytest.fixture(scope="session")
def redis_passwords() -> dict[str, str]:
    """Production's Redis passwords of the Sentinels' user and of each queue's, read once: the
    first manager, which keeps the secrets, may be down later."""
    return {user: ssh(MANAGERS[0], f"cat {HOME}/.secrets/{PROJECT}/prod/redis/{user}.password")
            for user in ("sentinel", *QUEUES)}


class Redis:
    """Production's replicated Redis, as its Sentinels and servers say (redis-cli in their
    containers, as the Sentinels' own user)."""
    SERVERS = ("redis", "redis-2", "redis-3")
    SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")

    def __init__(self, passwords: dict[str, str]):
        self.passwords = passwords

    def in_task(self, service: str, command: str, user: str, avoid: tuple[str, ...] = ()) -> tuple[str, str]:
        """(the VM, the shell command there) that runs COMMAND in the task of prod's `service`,
        with `user`'s password where redis-cli looks for it; `-i`: COMMAND may read the ssh's input."""
        nodes = task_nodes(f"{PROJECT}-prod_{service}", avoid=avoid)
        assert nodes, f"prod {service} runs nowhere"
        return nodes[0], (f"docker exec -i -e REDISCLI_AUTH={self.passwords[user]} "
                          f"$(docker ps -q --filter status=running "
                          f"--filter label=com.docker.swarm.service.name={PROJECT}-prod_{service} | head -1) {command}")

    def cli(self, service: str, command: str, port: int = 6379, user: str = "sentinel", timeout: float = 20,
            avoid: tuple[str, ...] = ()) -> str:
        """redis-cli COMMAND in the task of prod's `service`, on the VM that runs it, as `user`."""
        vm, line = self.in_task(service, f"redis-cli -p {port} --user {user} --no-auth-warning {command}", user, avoid)
        return ssh(vm, line, timeout=timeout)

    def primary(self, avoid: tuple[str, ...] = ()) -> str:
        """The server the Sentinels name as primary (a majority of those that answer)."""
        answers = collections.Counter()
        for sentinel in self.SENTINELS:
            try:
                if set(task_nodes(f"{PROJECT}-prod_{sentinel}", avoid=avoid)) & set(avoid):
                    continue
                answer = self.cli(sentinel, "SENTINEL GET-MASTER-ADDR-BY-NAME waitline", port=26379, timeout=10,
                                  avoid=avoid)
            except (AssertionError, subprocess.TimeoutExpired):
                continue
            if answer:
                answers[answer.splitlines()[0]] += 1
        assert answers, "no Sentinel answered"
        return answers.most_common(1)[0][0]

    def vm_of(self, server: str) -> str:
        return task_nodes(f"{PROJECT}-prod_{server}")[0]

    def info(self, server: str, avoid: tuple[str, ...] = ()) -> dict[str, str]:
        """INFO replication of a server."""
        lines = self.cli(server, "INFO replication", avoid=avoid).splitlines()
        return dict(line.strip().split(":", 1) for line in lines if ":" in line)

    def switch_to(self, server: str):
        """Makes `server` the primary (a switchover: the Sentinels promote the replica of lowest
        priority, server `redis`); returns once they name it and it has its two replicas."""
        if self.primary() != server:
            self.cli("sentinel-2", "SENTINEL FAILOVER waitline", port=26379)
            wait_for(f"{server} primary again", lambda: self.primary() == server, timeout=60)
        wait_for(f"{server} with two replicas", lambda: self.info(server).get("connected_slaves") == "2", timeout=90)

    def same_data(self, queue: str) -> dict[str, tuple[str, str, str]]:
        """Every server's (role, ticket counter, waiting tickets) once every replica is at the
        primary's replication offset: identical when no data diverged."""
        primary = self.primary()

        # The primary's offset keeps growing a little (the Sentinels' hellos, pings): a replica
        # has every write once it reaches the offset the primary had just before.
        def caught_up():
            offset = int(self.info(primary)["master_repl_offset"])
            replicas = [self.info(s) for s in self.SERVERS if s != primary]
            return all(r.get("master_link_status") == "up" and int(r["slave_repl_offset"]) >= offset for r in replicas)
        wait_for("every replica at the primary's offset", caught_up, timeout=120)
        state = {}
        for server in self.SERVERS:
            role = self.info(server)["role"]
            counter = self.cli(server, f"GET ticket_number_{queue}", user=queue)
            waiting = self.cli(server, f"LLEN queue_{queue}", user=queue)
            state[server] = (role, counter, waiting)
        return state


@pytest.fixture
def redis(redis_passwords) -> Redis:
    return Redis(redis_passwords)


class Client:
    """Requests to one platform through the proxy, by HTTPS, following the proxy if it moves."""

    def __init__(self, platform: str, keys, avoid: tuple[str, ...] = ()):
        self.host = {"prod": "prod.localhost", "dev": "dev.localhost", "qualif": "qualif.localhost"}[platform]
        self.platform, self.keys, self.avoid = platform, keys, avoid
        self.address = proxy_address(avoid)
        self.session = requests.Session()

    def request(self, method: str, queue: str, path: str, timeout: float = 5, headers: dict | None = None,
                **kw) -> requests.Response:
        key = self.keys[(self.platform, queue, "desk")]
        headers = {"Host": self.host, "Authorization": f"Bearer {key}", **(headers or {})}
        return self.session.request(method, f"https://{self.address}:{HTTPS_PORT}/{queue}/{path}", timeout=timeout,
                                    verify=False, headers=headers, **kw)


@dataclass
class Load:
    """Takes and calls on one queue from several threads, as a careful desk client makes them: each
    with its own Idempotency-Key, sent again with that key until it is answered. A take or call
    whose answer was lost (a VM killed with the request in flight, 504 outcome_unknown) may have
    happened; the retry returns that outcome (a replay) instead of doing it twice, so every ticket
    that leaves the queue is reported. Records what was acknowledged."""
    client_factory: object
    queue: str
    threads: int = 4
    settle_seconds: float = 60  # after stop: how long an unanswered operation is still retried
    taken: list[int] = field(default_factory=list)
    called: list[int] = field(default_factory=list)
    failed_attempts: int = 0  # attempts without an answer, each sent again with its key
    failure_outcomes: collections.Counter = field(default_factory=collections.Counter)  # of those: what came back
    replays: int = 0          # answers marked Idempotent-Replayed: an earlier attempt had happened
    refused: list[str] = field(default_factory=list)  # definitive refusals (4xx other than 429)
    unanswered: int = 0       # operations still without an answer settle_seconds after stop
    ok_times: list[float] = field(default_factory=list)
    attempts: list[tuple[float, float, bool]] = field(default_factory=list)  # (sent, answered, 200?)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self):
        client = self.client_factory()
        i = 0
        while not self.stop.is_set():
            i += 1
            self._until_answered(client, "call_ticket" if i % 3 == 0 else "get_ticket", uuid.uuid4().hex)

    def _until_answered(self, client, op: str, key: str):
        give_up_at = None
        while True:
            sent = time.monotonic()
            try:
                r = client.request("POST", self.queue, op, headers={"Idempotency-Key": key})
                outcome = f"{r.status_code} {r.text[:80]}"
            except requests.RequestException as e:
                r, outcome = None, type(e).__name__
            with self.lock:
                self.attempts.append((sent, time.monotonic(), r is not None and r.status_code == 200))
                if r is not None and r.status_code == 200:
                    ticket = r.json()["ticket"]
                    if ticket is not None:
                        (self.called if op == "call_ticket" else self.taken).append(ticket)
                    self.replays += r.headers.get("Idempotent-Replayed") == "true"
                    self.ok_times.append(time.monotonic())
                    return
                if r is not None and 400 <= r.status_code < 500 and r.status_code != 429:
                    self.refused.append(f"{op} {r.status_code} {r.text[:200]}")
                    return
                self.failed_attempts += 1
                self.failure_outcomes[outcome] += 1
                if self.stop.is_set():
                    give_up_at = give_up_at or time.monotonic() + self.settle_seconds
                    if time.monotonic() > give_up_at:
                        self.unanswered += 1
                        return
            time.sleep(0.2)

    def __enter__(self):
        self.workers = [threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)]
        for w in self.workers:
            w.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for w in self.workers:
            w.join(timeout=self.settle_seconds + 30)

    def acknowledged_since(self, t: float) -> int:
        with self.lock:
            return sum(1 for x in self.ok_times if x > t)

    def first_ok_after(self, t: float) -> float | None:
        with self.lock:
            later = [x for x in self.ok_times if x > t]
        return min(later) if later else None

    def gap_after(self, fault: float) -> float | None:
        """Seconds from the first failed answer after `fault` to the first good answer to a request
        sent after that failure; 0 when nothing failed, None when nothing was good since."""
        with self.lock:
            return gap(self.attempts, fault)


def gap(attempts: list[tuple[float, float, bool]], fault: float) -> float | None:
    failed = [answered for sent, answered, ok in attempts if not ok and answered >= fault]
    if not failed:
        return 0.0
    first = min(failed)
    good = [answered for sent, answered, ok in attempts if ok and sent > first]
    return min(good) - first if good else None


class Probe:
    """A take on prod every 0.2 s, each on a new connection to the virtual IP with a 1 s timeout
    and its own key, sent again with it until answered (so it loses no ticket): times when
    production answers, without the waits of a busy client's long timeouts."""

    def __init__(self, api_keys, queue: str = "saphir"):
        self.keys, self.queue = api_keys, queue
        self.attempts: list[tuple[float, float, bool]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        key = self.keys[("prod", self.queue, "desk")]
        while not self.stop.is_set():
            idempotency = uuid.uuid4().hex
            while not self.stop.is_set():
                sent = time.monotonic()
                try:
                    ok = requests.post(f"https://{VIP}:{HTTPS_PORT}/{self.queue}/get_ticket", timeout=1, verify=False,
                                       headers={"Host": "prod.localhost", "Authorization": f"Bearer {key}",
                                                "Idempotency-Key": idempotency, "Connection": "close"}).status_code == 200
                except requests.RequestException:
                    ok = False
                self.attempts.append((sent, time.monotonic(), ok))
                time.sleep(max(0.0, 0.2 - (time.monotonic() - sent)))
                if ok:
                    break

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)

    def answered_again(self, fault: float) -> float | None:
        """Seconds from `fault` to the first good answer to a request sent after the first failed
        one (0 when none failed); None while production has not answered again."""
        attempts = list(self.attempts)
        failed = [answered for sent, answered, ok in attempts if not ok and answered >= fault]
        if not failed:
            return 0.0
        good = [answered for sent, answered, ok in attempts if ok and sent > min(failed)]
        return min(good) - fault if good else None

    def gap(self, fault: float) -> float | None:
        return gap(list(self.attempts), fault)


def drain(client: Client, queue: str) -> list[int]:
    """Calls every ticket left in the queue; returns their numbers in call order."""
    out = []
    while True:
        r = client.request("POST", queue, "call_ticket")
        assert r.status_code == 200, r.text
        ticket = r.json()["ticket"]
        if ticket is None:
            return out
        out.append(ticket)


def assert_no_loss_no_duplicate(load: Load, drained: list[int], label: str):
    """Every operation was answered; every acknowledged take was called during the load or is still
    in the queue; no number was issued or called twice."""
    assert not load.refused, f"{label}: refused: {load.refused[:5]}"
    assert load.unanswered == 0, f"{label}: {load.unanswered} operations still unanswered {load.settle_seconds} s after the load"
    issued = load.taken
    seen = load.called + drained
    assert len(issued) == len(set(issued)), f"{label}: a ticket number was issued twice"
    assert len(seen) == len(set(seen)), f"{label}: a ticket was called twice"
    lost = sorted(set(issued) - set(seen))
    assert not lost, f"{label}: {len(lost)} acknowledged tickets lost: {lost[:20]}"
    figure(f"{label}: {len(issued)} takes and {len(load.called)} calls acknowledged under load, "
           f"{len(drained)} left in the queue; {load.failed_attempts} attempts failed and were sent again "
           f"with their Idempotency-Key ({load.replays} replays); lost 0, duplicates 0")


@pytest.fixture(scope="session")
def prometheus():
    """query(expr) -> result list, on Prometheus reached as an operator does: through the proxy,
    on its host name, with the monitoring password."""
    password = ssh(MANAGERS[0], f"cat {HOME}/.secrets/{PROJECT}/monitoring_password")
    session = requests.Session()
    session.auth = ("monitoring", password)
    # verify=False on each request: a session's is overridden by REQUESTS_CA_BUNDLE when that is
    # set (the proxy's certificate is self-signed, for another name than the node's address).
    session.headers["Host"] = "prometheus.localhost"
    base = f"https://{VIP}:{HTTPS_PORT}"

    def query(expr: str) -> list[dict]:
        """The result; an AssertionError (which wait_for retries) when Prometheus does not answer,
        as when a fault test has just restarted it."""
        r = wait_for("Prometheus answering", lambda: session.get(f"{base}/api/v1/query", params={"query": expr},
                                                                  timeout=15, verify=False), timeout=120)
        body = r.json() if r.headers.get("Content-Type", "").startswith("application/json") else {}
        assert body.get("status") == "success", (expr, r.status_code, r.text[:300])
        return body["data"]["result"]

    def ready():
        r = session.get(f"{base}/-/ready", timeout=5, verify=False)
        assert r.ok, f"HTTP {r.status_code}: {r.text[:200].strip()}"
        return r
    try:
        wait_for("Prometheus ready", ready, timeout=180)
    except AssertionError as e:
        tasks = docker(f"service ps {PROJECT}-monitoring_prometheus --no-trunc "
                       "--format '{{.Node}} {{.DesiredState}} {{.CurrentState}} {{.Error}}'", check=False)
        raise AssertionError(f"{e}; its tasks:\n{tasks}") from None
    return query
