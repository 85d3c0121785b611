"""Issue 9 item 6: every deployed Swarm service is hardened (docs/adr/0004-swarm-hardening-and-overlay-encryption.md):
a read-only root filesystem, every capability dropped, a pids limit and an nproc cap, no new privileges,
rotated logs, and production's Redis reserving the memory it may use. Read from the services' specs,
the running containers and their processes' status in /proc."""
import json
import os

from conftest import PLATFORMS, PROJECT, docker, figure, service

# The only capability any service gets back, and why (the ADR).
ALLOWED_CAPS = {f"{PROJECT}-monitoring_cadvisor": ["CAP_DAC_READ_SEARCH"]}


def project_services() -> list[dict]:
    stacks = [f"{PROJECT}-{p}" for p in PLATFORMS] + [f"{PROJECT}-edge", f"{PROJECT}-monitoring"]
    ids = []
    for stack in stacks:
        ids += docker("service", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={stack}").split()
    return json.loads(docker("service", "inspect", *ids))


def test_every_service_spec_is_hardened(deployment):
    problems, services = [], project_services()
    assert len(services) >= 20, [s["Spec"]["Name"] for s in services]
    for svc in services:
        name, task = svc["Spec"]["Name"], svc["Spec"]["TaskTemplate"]
        c = task["ContainerSpec"]
        if not c.get("ReadOnly"):
            problems.append(f"{name}: writable root filesystem")
        if c.get("CapabilityDrop") != ["ALL"]:
            problems.append(f"{name}: drops {c.get('CapabilityDrop')}, not ALL")
        if (c.get("CapabilityAdd") or []) != ALLOWED_CAPS.get(name, []):
            problems.append(f"{name}: adds {c.get('CapabilityAdd')}")
        if not 0 < (task.get("Resources", {}).get("Limits", {}).get("Pids") or 0) <= 4096:
            problems.append(f"{name}: no pids limit")
        nproc = [u for u in c.get("Ulimits") or [] if u["Name"] == "nproc"]
        if not nproc or not 0 < nproc[0]["Hard"] <= 65536:
            problems.append(f"{name}: no nproc ulimit")
        log = task.get("LogDriver") or {}
        if log.get("Name") != "json-file" or not {"max-size", "max-file"} <= set(log.get("Options", {})):
            problems.append(f"{name}: logs not rotated ({log})")
    assert not problems, "\n".join(problems)
    figure(f"hardening: {len(services)} services read-only, cap_drop ALL, pids limit, nproc ulimit, rotated logs")


def test_every_running_container_is_hardened(deployment):
    ids = docker("ps", "-q", "--filter", f"label=com.docker.stack.namespace").split()
    containers = [c for c in json.loads(docker("inspect", *ids))
                  if c["Config"]["Labels"].get("com.docker.stack.namespace", "").startswith(f"{PROJECT}-")]
    assert len(containers) >= 20
    problems, checked = [], 0
    for c in containers:
        name, host = c["Name"], c["HostConfig"]
        if not host["ReadonlyRootfs"] or host["CapDrop"] != ["ALL"]:
            problems.append(f"{name}: read-only {host['ReadonlyRootfs']}, cap drop {host['CapDrop']}")
        if c["Config"]["User"] in ("", "0", "root", "0:0"):
            problems.append(f"{name}: runs as root")
        if host["LogConfig"]["Config"].get("max-size") != "10m":
            problems.append(f"{name}: log options {host['LogConfig']}")
        if not 0 < (host.get("PidsLimit") or 0) <= 4096:
            problems.append(f"{name}: pids limit {host.get('PidsLimit')}")
        # The kernel's own word on no-new-privileges (the engine's default, scripts/setup/docker-engine.sh).
        try:
            with open(f"/proc/{c['State']['Pid']}/status") as status:
                if "NoNewPrivs:\t1" not in status.read():
                    problems.append(f"{name}: may gain privileges (NoNewPrivs is not 1)")
        except FileNotFoundError:  # the task ended since docker inspect; nothing to check
            continue
        checked += 1
    assert not problems, "\n".join(problems)
    assert checked >= 20, checked
    figure(f"hardening: {checked} running containers with a pids limit and NoNewPrivs 1")


def test_production_redis_reserves_the_memory_it_may_use(deployment):
    res = json.loads(docker("service", "inspect", service("prod", "redis")))[0]["Spec"]["TaskTemplate"]["Resources"]
    assert res["Reservations"]["MemoryBytes"] == res["Limits"]["MemoryBytes"] > 0, res


def test_each_queue_runs_one_worker_thread_per_cpu_of_its_limit(deployment):
    """WAITLINE_THREADS=0: the service counts the CPUs of its cgroup limit (rounded up, at most the
    host's), so a queue limited to 1 CPU on a 2-core host runs 1 thread, not 2 sharing one CPU."""
    import math
    from conftest import QUEUES, containers_of, platforms_env
    env = platforms_env()
    host_cpus = os.cpu_count()
    seen = {}
    for platform in PLATFORMS:
        assert env[f"{platform}_WAITLINE_THREADS"] == "0"
        expected = min(host_cpus, math.ceil(float(env[f"{platform}_QUEUE_CPUS"])))
        for queue in QUEUES:
            for container in containers_of(service(platform, queue)):
                started = [json.loads(line) for line in docker("logs", container).splitlines()
                           if '"waitline started"' in line]
                assert started, f"no start line in the log of {container}"
                assert started[-1]["threads"] == expected, (platform, queue, started[-1])
                seen[platform] = started[-1]["threads"]
    figure(f"worker threads per queue (host {host_cpus} CPUs): "
           + ", ".join(f"{p} {n}" for p, n in seen.items()))
