"""waitline on four simulated VMs: placement, storage, and the loss of a node under load."""
from __future__ import annotations

import time

from conftest import (HOSTS, MANAGERS, NODE, PLATFORMS, PROJECT, QUEUES, Client, Load, assert_no_loss_no_duplicate, docker,
                      drain, figure, node_state, ssh, start_vm, task_nodes, wait_for)


def roles(vm: str) -> list[str]:
    return HOSTS[vm]["waitline_roles"]


def test_swarm_has_three_managers_and_every_node_its_labels():
    nodes = docker("node ls --format '{{.Hostname}} {{.ManagerStatus}} {{.Status}}'").splitlines()
    managers = [n.split()[0] for n in nodes if n.split()[1] in ("Leader", "Reachable")]
    assert sorted(managers) == sorted(NODE[m] for m in MANAGERS), nodes
    for vm in HOSTS:
        labels = docker(f"node inspect {NODE[vm]} --format '{{{{range $k, $v := .Spec.Labels}}}}{{{{$k}}}} {{{{end}}}}'").split()
        assert {f"waitline.{r}" for r in roles(vm)} <= set(labels), (vm, labels)


def test_production_runs_only_on_production_nodes_and_dev_qualif_never_there():
    for platform in PLATFORMS:
        for service in (*QUEUES, "redis"):
            nodes = task_nodes(f"{PROJECT}-{platform}_{service}")
            assert nodes, f"{platform} {service} runs nowhere"
            for vm in nodes:
                wanted = "production" if platform == "prod" else "non-production"
                assert wanted in roles(vm), f"{platform}_{service} runs on {vm} ({roles(vm)})"


def test_each_platform_keeps_its_redis_data_on_its_own_replica3_glusterfs_volume():
    storage = [vm for vm in HOSTS if "storage" in roles(vm)]
    bricks = {}
    for platform in PLATFORMS:
        info = ssh(storage[0], f"gluster volume info waitline-{platform}")
        assert "Type: Replicate" in info and "Number of Bricks: 1 x 3 = 3" in info, info
        assert "Status: Started" in info, info
        bricks[platform] = {line.split(": ", 1)[1] for line in info.splitlines() if line.startswith("Brick") and ": " in line}
    assert not bricks["prod"] & (bricks["dev"] | bricks["qualif"]), "production shares a brick with dev or qualif"
    for platform in PLATFORMS:
        vm = task_nodes(f"{PROJECT}-{platform}_redis")[0]
        container = ssh(vm, f"docker ps -q --filter label=com.docker.swarm.service.name={PROJECT}-{platform}_redis")
        source = ssh(vm, f"docker volume inspect $(docker inspect {container} --format "
                         "'{{range .Mounts}}{{if eq .Destination \"/data\"}}{{.Name}}{{end}}{{end}}') "
                         "--format '{{index .Options \"device\"}}'")
        assert source == f"/mnt/waitline/{platform}/redis", (platform, source)
        assert ssh(vm, f"stat -f -c %T /mnt/waitline/{platform}") == "fuseblk"
        assert ssh(vm, f"ls /mnt/waitline/{platform}/redis"), f"{platform}'s Redis wrote nothing on its volume"


def test_a_take_through_the_proxy_on_every_platform(api_keys):
    for platform in PLATFORMS:
        r = Client(platform, api_keys).request("POST", "rubis", "get_ticket")
        assert r.status_code == 200, r.text
        assert r.json()["queue"] == "rubis"


def measure(client: Client, queue: str, seconds: float, threads: int = 2) -> tuple[float, float]:
    """Requests per second and p99 latency (ms) of list_tickets on one queue."""
    import threading
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run():
        session_client = Client(client.platform, client.keys)
        while time.monotonic() < deadline:
            t = time.monotonic()
            r = session_client.request("GET", queue, "list_tickets?limit=1")
            if r.status_code == 200:
                with lock:
                    latencies.append((time.monotonic() - t) * 1000)
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    latencies.sort()
    assert latencies, "no request answered"
    return len(latencies) / seconds, latencies[int(len(latencies) * 0.99) - 1 if len(latencies) > 1 else 0]


# The bound that a development flood must keep production within (stated in the guide): p99 at
# most 3x its idle value plus 50 ms, throughput at least 30 % of its idle value. The four VMs, the
# flood's clients and the measurement share this host's two cores, so the flood takes CPU from
# production here that it could not take from production's own machines: measured shares were
# 0.41 to 0.60 (p99 70 ms at most). What the bound catches is production starving behind
# development (dev unlimited, or running on production's nodes).
P99_FACTOR, P99_SLACK_MS, THROUGHPUT_SHARE = 3.0, 50.0, 0.3
FLOOD_CLIENTS, FLOOD_SECONDS = 6, 14


def flood_dev(api_keys: dict, until: float, counts) -> None:
    """FLOOD_CLIENTS threads taking tickets on dev as fast as they can, until `until`; counts[0]
    requests sent, counts[1] answered 429. Runs in a process of its own: in the measuring
    process its threads would hold the GIL and slow the measurement, not production. At the
    lowest CPU priority: a real flood's clients run on other machines, here they would take one
    of the two cores that the VMs and the measurement share, and the test would measure that."""
    import os
    import threading
    os.nice(19)

    def one():
        dev = Client("dev", api_keys)
        while time.monotonic() < until:
            try:
                status = dev.request("POST", "saphir", "get_ticket", timeout=2).status_code
            except Exception:  # noqa: BLE001 - a flood ignores its own failures
                status = 0
            with counts.get_lock():
                counts[0] += 1
                counts[1] += status == 429
    threads = [threading.Thread(target=one) for _ in range(FLOOD_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_a_development_flood_leaves_production_within_its_bound(api_keys):
    import multiprocessing
    prod = Client("prod", api_keys)
    idle_rps, idle_p99 = measure(prod, "saphir", 10)
    context = multiprocessing.get_context("fork")
    counts = context.Array("l", 2)
    flood = context.Process(target=flood_dev, args=(api_keys, time.monotonic() + FLOOD_SECONDS, counts))
    flood.start()
    time.sleep(2)
    flood_rps, flood_p99 = measure(prod, "saphir", 10)
    flood.join(FLOOD_SECONDS + 10)
    assert flood.exitcode == 0, f"the flood process ended with {flood.exitcode}"
    figure(f"isolation: prod list_tickets idle {idle_rps:.0f} req/s p99 {idle_p99:.1f} ms; during a dev flood "
           f"({FLOOD_CLIENTS} clients, {counts[0]} requests in {FLOOD_SECONDS} s, {counts[1]} answered 429) "
           f"{flood_rps:.0f} req/s p99 {flood_p99:.1f} ms")
    assert counts[1] > 0, "the flood never reached dev's limit: it measured nothing"
    assert flood_p99 <= P99_FACTOR * idle_p99 + P99_SLACK_MS, (idle_p99, flood_p99)
    assert flood_rps >= THROUGHPUT_SHARE * idle_rps, (idle_rps, flood_rps)


def test_killing_the_vm_that_runs_production_redis_loses_no_acknowledged_ticket(api_keys, power_cut):
    service = f"{PROJECT}-prod_redis"
    victim = task_nodes(service)[0]
    assert "edge" not in roles(victim), "the test expects the proxy elsewhere"
    client = Client("prod", api_keys)
    drain(client, "diamant")
    with Load(lambda: Client("prod", api_keys), "diamant") as load:
        time.sleep(5)
        before = len(load.taken)
        assert before > 0, f"no take acknowledged before the fault ({load.failed_attempts} failed attempts)"
        killed_at = time.monotonic()
        power_cut(victim)
        new_node = wait_for("prod's Redis running on another node",
                            lambda: [n for n in task_nodes(service, avoid=(victim,)) if n != victim], timeout=240)
        # Requests in flight when the VM died end within a second; a success after that went
        # through the new Redis.
        try:
            recovered = wait_for("a request acknowledged after the fault",
                                 lambda: load.first_ok_after(killed_at + 1), timeout=240)
        except AssertionError as e:  # what the clients got instead says which part did not come back
            raise AssertionError(f"{e}; failed attempts by outcome: {load.failure_outcomes.most_common(6)}") from None
        time.sleep(3)
    recover_s = recovered - killed_at
    figure(f"prod Redis node {victim} killed: Redis back on {new_node[0]}, first acknowledged take "
           f"{recover_s:.1f} s after the kill")
    assert_no_loss_no_duplicate(load, drain(Client("prod", api_keys, avoid=(victim,)), "diamant"),
                                f"kill {victim} (prod Redis)")


def spare_production_node() -> str:
    """The production VM that does not run production's Redis (also a manager and a storage node)."""
    redis = set(task_nodes(f"{PROJECT}-prod_redis"))
    spare = [vm for vm in HOSTS if "production" in roles(vm) and vm not in redis]
    assert spare, "production's Redis runs on every production node?"
    return spare[0]


def test_killing_a_manager_keeps_quorum_and_a_deploy_still_works(api_keys, power_cut):
    victim = spare_production_node()
    assert victim in MANAGERS
    with Load(lambda: Client("prod", api_keys), "emeraude") as load:
        time.sleep(3)
        power_cut(victim)
        wait_for(f"{victim} seen down", lambda: node_state(victim, avoid=(victim,)) == "down", timeout=120)
        leader = docker("node ls --filter role=manager --format '{{.Hostname}} {{.ManagerStatus}}'", avoid=(victim,))
        assert "Leader" in leader, leader
        # A deploy: one more replica of a qualification queue, then back.
        service = f"{PROJECT}-qualif_emeraude"
        started = time.monotonic()
        docker(f"service scale -d {service}=2", avoid=(victim,))
        wait_for("the scaled service converged",
                 lambda: docker(f"service ls --filter name={service} --format '{{{{.Replicas}}}}'", avoid=(victim,)) == "2/2",
                 timeout=180)
        figure(f"manager {victim} killed: quorum kept (leader: {leader.split()[0] if leader else '?'}), "
               f"a scale of {service} converged in {time.monotonic() - started:.1f} s")
        docker(f"service scale -d {service}=1", avoid=(victim,))
    assert_no_loss_no_duplicate(load, drain(Client("prod", api_keys), "emeraude"), f"kill manager {victim}")


def test_killing_a_vm_with_a_queue_replica_keeps_the_queue_answering(api_keys, power_cut):
    service = f"{PROJECT}-prod_rubis"
    # From one replica: Swarm spreads a new task away from the node that has one, never moves one.
    docker(f"service scale -d {service}=1")
    docker(f"service scale -d {service}=2")
    wait_for("two replicas on two production nodes", lambda: len(set(task_nodes(service))) == 2, timeout=180)
    victim = spare_production_node()
    assert victim in task_nodes(service)
    drain(Client("prod", api_keys), "rubis")
    with Load(lambda: Client("prod", api_keys), "rubis") as load:
        time.sleep(3)
        killed_at = time.monotonic()
        power_cut(victim)
        time.sleep(20)
        answered = load.acknowledged_since(killed_at)
    figure(f"queue replica node {victim} killed: {answered} requests answered in the 20 s after "
           f"(attempts in flight to the lost replica failed and were sent again)")
    docker(f"service scale -d {service}=1")
    assert answered > 0, "the queue stopped answering"
    assert_no_loss_no_duplicate(load, drain(Client("prod", api_keys), "rubis"), f"kill {victim} (queue replica)")


def test_killing_a_storage_node_keeps_the_volume_serving_and_it_heals(api_keys, power_cut):
    victim = spare_production_node()
    assert "storage" in roles(victim)
    reader = task_nodes(f"{PROJECT}-prod_redis")[0]
    drain(Client("prod", api_keys), "saphir")
    with Load(lambda: Client("prod", api_keys), "saphir") as load:
        time.sleep(3)
        killed_at = time.monotonic()
        power_cut(victim)
        ssh(reader, "echo written-while-a-brick-was-down >/mnt/waitline/prod/fault-probe && cat /mnt/waitline/prod/fault-probe",
            timeout=120)
        time.sleep(10)
        answered = load.acknowledged_since(killed_at)
    assert answered > 0, "production stopped answering while one storage node was down"
    assert_no_loss_no_duplicate(load, drain(Client("prod", api_keys), "saphir"), f"kill {victim} (storage node)")
    start_vm(victim)
    started = time.monotonic()
    wait_for("the volume healed (no entry left to heal)",
             lambda: all(line.strip() == "Number of entries: 0" for line in
                         ssh(reader, "gluster volume heal waitline-prod info").splitlines() if "Number of entries" in line),
             timeout=300, interval=5)
    assert ssh(victim, "cat /srv/gluster/prod/fault-probe") == "written-while-a-brick-was-down"
    figure(f"storage node {victim} killed: {answered} requests answered while it was down; its brick healed "
           f"{time.monotonic() - started:.0f} s after it came back")
    ssh(reader, "rm -f /mnt/waitline/prod/fault-probe")
