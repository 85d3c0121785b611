"""Acceptance 3 and 5 (R7, R8, R11): one definition, three isolated platforms, resources bounded."""
import json
import subprocess

import pytest

from conftest import DESCRIBED, PLATFORMS, PROJECT, QUEUES, docker, images, platforms_env, run, service


def spec(svc: str) -> dict:
    return json.loads(docker("service", "inspect", svc))[0]["Spec"]


def network_names(svc: str) -> set[str]:
    ids = [n["Target"] for n in spec(svc)["TaskTemplate"].get("Networks", [])]
    return {docker("network", "inspect", i, "--format", "{{.Name}}") for i in ids}


def test_each_platform_is_a_stack_of_the_same_four_queue_services_and_its_own_redis(deployment):
    image = images()["WAITLINE_IMAGE"]
    for platform in PLATFORMS:
        stack = f"{PROJECT}-{platform}"
        names = set(docker("stack", "services", stack, "--format", "{{.Name}}").split())
        assert names == {f"{stack}_{s}" for s in (*QUEUES, "redis", "redis_exporter")}
        for queue in QUEUES:
            s = spec(service(platform, queue))
            container = s["TaskTemplate"]["ContainerSpec"]
            assert container["Image"] == image
            # Each queue logs in to Redis as its own ACL user (scripts/platform/secrets.sh), and is
            # shown by its label (deploy/platforms.conf; empty: the service capitalizes the name).
            assert container["Args"] == ["serve", "--queue-name", queue, "--queue-label",
                                         DESCRIBED.labels.get(queue, ""), "--redis-username", queue]
            assert network_names(service(platform, queue)) == {f"{PROJECT}-{platform}-front", f"{stack}_back"}
        assert network_names(service(platform, "redis")) == {f"{stack}_back"}
        assert network_names(service(platform, "redis_exporter")) == {f"{PROJECT}-{platform}-front", f"{stack}_back"}
    # One definition rendered three times, not three copies.
    files = run("ls", "deploy/swarm").stdout.split()
    assert "platform.yml" in files and not [f for f in files for p in PLATFORMS if p in f], files


def test_the_proxy_joins_every_front_network_and_no_redis_network(deployment):
    nets = network_names(f"{PROJECT}-edge_proxy")
    assert nets == {f"{PROJECT}-{p}-front" for p in PLATFORMS} | {f"{PROJECT}-edge_outside", f"{PROJECT}-monitoring-front"}


def test_the_platforms_networks_are_internal(deployment):
    for platform in PLATFORMS:
        for net in (f"{PROJECT}-{platform}-front", f"{PROJECT}-{platform}_back"):
            assert docker("network", "inspect", net, "--format", "{{.Internal}}") == "true", net


def test_every_service_has_limits_production_has_reservations_and_placement(deployment):
    env = platforms_env()
    for platform in PLATFORMS:
        for name in (*QUEUES, "redis"):
            s = spec(service(platform, name))
            res = s["TaskTemplate"]["Resources"]
            assert res["Limits"]["NanoCPUs"] > 0 and res["Limits"]["MemoryBytes"] > 0, (platform, name)
            kind = "REDIS" if name == "redis" else "QUEUE"
            assert res["Limits"]["NanoCPUs"] == round(float(env[f"{platform}_{kind}_CPUS"]) * 1e9)
            assert res["Limits"]["MemoryBytes"] == int(env[f"{platform}_{kind}_MEMORY_MB"]) * 2**20
            constraints = s["TaskTemplate"]["Placement"]["Constraints"]
            if platform == "prod":
                assert res["Reservations"]["NanoCPUs"] > 0 and res["Reservations"]["MemoryBytes"] > 0
                if name != "redis":
                    assert constraints == ["node.labels.waitline.production==true"]
            if name == "redis":
                assert constraints == [f"node.labels.waitline.redis.{platform}==true"]
    proxy = spec(f"{PROJECT}-edge_proxy")["TaskTemplate"]["Resources"]
    assert proxy["Limits"]["NanoCPUs"] > 0 and proxy["Reservations"]["NanoCPUs"] > 0


def test_development_and_qualification_fit_the_budget_that_leaves_production_its_share(deployment):
    env = platforms_env()
    cpus = mem = 0
    for platform in ("dev", "qualif"):
        for name in (*QUEUES, "redis"):
            s = spec(service(platform, name))
            n = s["Mode"]["Replicated"]["Replicas"]
            cpus += s["TaskTemplate"]["Resources"]["Limits"]["NanoCPUs"] * n
            mem += s["TaskTemplate"]["Resources"]["Limits"]["MemoryBytes"] * n
    assert cpus <= float(env["NONPROD_BUDGET_CPUS"]) * 1e9
    assert mem <= int(env["NONPROD_BUDGET_MEMORY_MB"]) * 2**20
    # ... and the budget plus production's reservations fit this host, so on one machine the
    # non-production platforms can never take what production reserved.
    reserved_cpus = reserved_mem = 0
    for svc in [service("prod", n) for n in (*QUEUES, "redis")] + [f"{PROJECT}-edge_proxy"]:
        s = spec(svc)
        n = s["Mode"]["Replicated"]["Replicas"]
        reserved_cpus += s["TaskTemplate"]["Resources"]["Reservations"]["NanoCPUs"] * n
        reserved_mem += s["TaskTemplate"]["Resources"]["Reservations"]["MemoryBytes"] * n
    node = json.loads(docker("node", "inspect", "self"))[0]["Description"]["Resources"]
    assert float(env["NONPROD_BUDGET_CPUS"]) * 1e9 + reserved_cpus <= node["NanoCPUs"]
    assert int(env["NONPROD_BUDGET_MEMORY_MB"]) * 2**20 + reserved_mem <= node["MemoryBytes"]
    # The same check as operators run it.
    assert "budget: ok" in run("scripts/platform/swarm.sh", "budget").stdout


def test_scaling_refuses_to_exceed_the_budget(deployment):
    p = run("scripts/platform/swarm.sh", "scale", "dev", "rubis", "9", check=False)
    assert p.returncode != 0 and "over the budget" in p.stderr
    assert spec(service("dev", "rubis"))["Mode"]["Replicated"]["Replicas"] == 1


def _redis_ip(platform: str) -> str:
    container = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service(platform, 'redis')}")
    nets = json.loads(docker("inspect", container))[0]["NetworkSettings"]["Networks"]
    return nets[f"{PROJECT}-{platform}_back"]["IPAddress"]


def _probe(network: str, host: str) -> subprocess.CompletedProcess:
    """From a throwaway container on `network`, try to talk to Redis at host:6379 (3 s at most).
    Only on internal networks: a packet that finds no way there never leaves the host."""
    assert docker("network", "inspect", network, "--format", "{{.Internal}}") == "true"
    return subprocess.run(
        ["docker", "run", "--rm", "--network", network, "--entrypoint", "timeout", images()["WAITLINE_REDIS_IMAGE"],
         "3", "redis-cli", "-h", host, "-p", "6379", "ping"], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("network", [f"{PROJECT}-dev_back", f"{PROJECT}-dev-front", f"{PROJECT}-qualif_back"])
def test_a_container_of_another_platform_cannot_reach_production_redis(deployment, network):
    prod_redis = _redis_ip("prod")
    # Control: on production's own network the probe does reach it (Redis asks for the password).
    control = _probe(f"{PROJECT}-prod_back", prod_redis)
    assert "NOAUTH" in control.stdout + control.stderr, control
    probe = _probe(network, prod_redis)
    assert probe.returncode != 0 and "NOAUTH" not in probe.stdout + probe.stderr, probe
    assert "unreachable" in probe.stderr or "timed out" in probe.stderr or probe.returncode == 124, probe
    # And the name "redis" there is that platform's own Redis, never production's.
    by_name = _probe(network, "redis")
    assert prod_redis not in by_name.stdout + by_name.stderr
