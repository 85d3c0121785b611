"""waitline on four simulated VMs: placement, storage, and the loss of any one machine under load.

The fault tests each run a keyed load of takes and calls through the virtual IP (conftest.Load) and
a probe (conftest.Probe); each reports acknowledged tickets lost, tickets issued or called twice,
and the gap: from the first failed answer to the first good one."""
from __future__ import annotations

import subprocess
import threading
import time

from conftest import (EDGES, HOSTS, MANAGERS, NODE, PLATFORMS, PROJECT, QUEUES, Client, Load, Probe, Redis,
                      assert_no_loss_no_duplicate, docker, drain, figure, move_vip_off, node_state, ssh, ssh_argv, start_vm,
                      swarm_names,
                      task_nodes, vip_holder, wait_for)


def roles(vm: str) -> list[str]:
    return HOSTS[vm]["waitline_roles"]


PROD_REDIS = ("redis", "redis-2", "redis-3", "sentinel-1", "sentinel-2", "sentinel-3")


def test_swarm_has_three_managers_and_every_node_its_labels():
    nodes = docker("node ls --format '{{.Hostname}} {{.ManagerStatus}} {{.Status}}'").splitlines()
    managers = [n.split()[0] for n in nodes if n.split()[1] in ("Leader", "Reachable")]
    assert sorted(managers) == sorted(NODE[m] for m in MANAGERS), nodes
    production = [vm for vm in HOSTS if "production" in roles(vm)]
    for vm in HOSTS:
        labels = docker(f"node inspect {NODE[vm]} --format '{{{{range $k, $v := .Spec.Labels}}}}{{{{$k}}}} {{{{end}}}}'").split()
        assert {f"waitline.{r}" for r in roles(vm)} <= set(labels), (vm, labels)
        if vm in production[:3]:
            assert f"waitline.redis.prod.{production.index(vm) + 1}" in labels, (vm, labels)


def test_production_runs_only_on_production_nodes_and_dev_qualif_never_there():
    for platform in PLATFORMS:
        services = (*QUEUES, *PROD_REDIS) if platform == "prod" else (*QUEUES, "redis")
        for service in services:
            nodes = task_nodes(f"{PROJECT}-{platform}_{service}")
            assert nodes, f"{platform} {service} runs nowhere"
            for vm in nodes:
                wanted = "production" if platform == "prod" else "non-production"
                assert wanted in roles(vm), f"{platform}_{service} runs on {vm} ({roles(vm)})"
    # One server and one Sentinel of production's Redis on each of three different nodes.
    for kind in ("redis", "sentinel"):
        where = [task_nodes(f"{PROJECT}-prod_{s}")[0] for s in PROD_REDIS if s.startswith(kind)]
        assert len(set(where)) == 3, f"prod's {kind} servers share a node: {where}"


def test_a_development_flood_cannot_share_a_cpu_with_the_production_entry_point():
    """The placement that keeps the production entry point (the proxies, on the edge nodes) off
    every CPU that development and qualification use: none of their tasks runs on an edge node,
    and the proxies run nowhere else."""
    proxies = task_nodes(f"{PROJECT}-edge_proxy")
    assert sorted(proxies) == sorted(EDGES), f"proxies on {proxies}, edge nodes {EDGES}"
    nonprod = {}
    for platform in ("dev", "qualif"):
        for service in (*QUEUES, "redis", "redis_exporter"):
            for vm in task_nodes(f"{PROJECT}-{platform}_{service}"):
                nonprod.setdefault(vm, []).append(f"{platform}_{service}")
    assert nonprod, "no dev or qualif task runs"
    assert not set(nonprod) & set(EDGES), f"dev or qualif on an edge node: { {vm: nonprod[vm] for vm in set(nonprod) & set(EDGES)} }"
    figure(f"placement: proxies on {', '.join(sorted(proxies))} (the edge nodes); the {sum(map(len, nonprod.values()))} "
           f"dev and qualif tasks on {', '.join(sorted(nonprod))}, no edge node")


def test_each_platform_keeps_its_redis_data_on_its_own_storage():
    """dev and qualif on their replica-3 GlusterFS volume (their one Redis moves with its data);
    production's three servers each on its own node's volume (replication keeps the copies)."""
    storage = [vm for vm in HOSTS if "storage" in roles(vm)]
    bricks = {}
    for platform in PLATFORMS:
        info = ssh(storage[0], f"gluster volume info waitline-{platform}")
        assert "Type: Replicate" in info and "Number of Bricks: 1 x 3 = 3" in info, info
        assert "Status: Started" in info, info
        bricks[platform] = {line.split(": ", 1)[1] for line in info.splitlines() if line.startswith("Brick") and ": " in line}
    assert not bricks["prod"] & (bricks["dev"] | bricks["qualif"]), "production shares a brick with dev or qualif"

    def data_volume(platform: str, service: str) -> tuple[str, str, str]:
        """(VM, the /data volume's bind device or "" for a plain local volume, its mount point)."""
        vm = task_nodes(f"{PROJECT}-{platform}_{service}")[0]
        container = ssh(vm, f"docker ps -q --filter status=running "
                            f"--filter label=com.docker.swarm.service.name={PROJECT}-{platform}_{service} | head -1")
        volume = ssh(vm, f"docker inspect {container} --format "
                         "'{{range .Mounts}}{{if eq .Destination \"/data\"}}{{.Name}}{{end}}{{end}}'")
        device, mountpoint = ssh(vm, f"docker volume inspect {volume} --format "
                                     "'{{index .Options \"device\"}}|{{.Mountpoint}}'").replace("<no value>", "").split("|")
        return vm, device.strip(), mountpoint.strip()
    for platform in ("dev", "qualif"):
        vm, device, _ = data_volume(platform, "redis")
        assert device == f"/mnt/waitline/{platform}/redis", (platform, device)
        assert ssh(vm, f"stat -f -c %T /mnt/waitline/{platform}") == "fuseblk"
        assert ssh(vm, f"ls /mnt/waitline/{platform}/redis"), f"{platform}'s Redis wrote nothing on its volume"
    for server in ("redis", "redis-2", "redis-3"):
        vm, device, mountpoint = data_volume("prod", server)
        assert not device, f"prod's {server} keeps its data on {device}, not on its node's own volume"
        assert ssh(vm, f"ls {mountpoint}/appendonlydir"), f"prod's {server} wrote nothing on its volume"


def test_a_take_through_the_virtual_ip_on_every_platform(api_keys):
    for platform in PLATFORMS:
        r = Client(platform, api_keys).request("POST", "rubis", "get_ticket")
        assert r.status_code == 200, r.text
        assert r.json()["queue"] == "rubis"


def measure(client: Client, queue: str, seconds: float, threads: int = 2) -> tuple[float, float]:
    """Requests per second and p99 latency (ms) of list_tickets on one queue."""
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


def spread_queue(queue: str):
    """The prod queue's two replicas on two different nodes (Swarm places new tasks apart, and
    never moves one, so a node that came back may hold both): scaled down and up again if not."""
    service = f"{PROJECT}-prod_{queue}"
    if len(set(task_nodes(service))) < 2:
        docker(f"service scale -d {service}=1")
        docker(f"service scale -d {service}=2")
    wait_for(f"{queue}'s two replicas on two nodes", lambda: len(set(task_nodes(service))) == 2, timeout=180)


def outcome(name: str, load: Load, probe: Probe, fault: float, drained: list[int]) -> str:
    """The figure line of a fault: lost and duplicates (asserted 0), the gaps."""
    assert_no_loss_no_duplicate(load, drained, name)
    load_gap, probe_gap, again = load.gap_after(fault), probe.gap(fault), probe.answered_again(fault)
    assert probe_gap is not None and load_gap is not None, f"{name}: production did not answer again"
    return (f"{name}: lost 0, duplicates 0; gap (first failed answer to first good one) {probe_gap:.1f} s for a "
            f"probe every 0.2 s, {load_gap:.1f} s for the load; production answered again {again:.1f} s after the fault")


def primary_victim(api_keys: dict, redis: Redis, queue: str) -> str:
    """What a fault on prod's Redis primary starts from: the primary is `redis` again, the virtual
    IP off its VM, `queue`'s two replicas on two nodes and its queue drained. Returns that VM."""
    redis.switch_to("redis")
    victim = redis.vm_of("redis")
    if vip_holder() == victim:
        move_vip_off(victim)
    spread_queue(queue)
    drain(Client("prod", api_keys), queue)
    return victim


def promoted_primary(redis: Redis, victim: str) -> str:
    """The server the Sentinels promote once the primary's VM, `victim`, is lost or cut off."""
    return wait_for("the Sentinels name a new primary",
                    lambda: (p := redis.primary(avoid=(victim,))) != "redis" and p, timeout=120, interval=0.5)


def test_killing_the_vm_of_the_redis_primary_fails_over_in_seconds_and_it_rejoins_as_a_replica(
        api_keys, power_cut, redis):
    victim = primary_victim(api_keys, redis, "diamant")
    with Probe(api_keys, "diamant") as probe, Load(lambda: Client("prod", api_keys), "diamant") as load:
        time.sleep(5)
        assert load.taken, f"no take acknowledged before the fault ({load.failed_attempts} failed attempts)"
        killed_at = time.monotonic()
        power_cut(victim)
        promoted = promoted_primary(redis, victim)
        try:
            wait_for("a take acknowledged after the fault", lambda: probe.answered_again(killed_at), timeout=120, interval=0.5)
        except AssertionError as e:
            raise AssertionError(f"{e}; failed attempts by outcome: {load.failure_outcomes.most_common(6)}") from None
        time.sleep(3)
    line = outcome(f"kill {victim} (prod Redis primary)", load, probe, killed_at,
                   drain(Client("prod", api_keys), "diamant"))
    figure(f"{line}; {promoted} promoted")
    assert probe.answered_again(killed_at) <= 10, line

    # The VM back: its server rejoins as a replica of the new primary and holds the same data.
    start_vm(victim)
    wait_for(f"{victim} back in the swarm", lambda: node_state(victim) == "ready")
    wait_for("the old primary running again", lambda: victim in task_nodes(f"{PROJECT}-prod_redis"), timeout=180)
    wait_for("the old primary a replica", lambda: redis.info("redis").get("role") == "slave", timeout=120)
    state = redis.same_data("diamant")
    assert len({(counter, waiting) for _, counter, waiting in state.values()}) == 1, state
    assert sorted(role for role, _, _ in state.values()) == ["master", "slave", "slave"], state
    figure(f"{victim} back: `redis` rejoined as a replica of {promoted}; the three servers hold the same counter "
           f"and queue ({state['redis'][1]} issued, {state['redis'][2]} waiting)")
    redis.switch_to("redis")


# Writes the queue's own user makes on a Redis server from inside its container, every 0.2 s for
# at most 60 s or until one is refused; each line: the wall-clock time its reply arrived, and the
# reply. Timed where the server runs, so no ssh or docker exec delay counts.
WRITE_UNTIL_REFUSED = """
end=$(($(date +%s) + 60))
while [ "$(date +%s)" -lt "$end" ]; do
  reply=$(redis-cli --user {queue} --no-auth-warning SET idempotency_{queue}:partition-probe x EX 60 2>&1)
  echo "$(date +%s.%N) $reply"
  case "$reply" in NOREPLICAS*) exit 0 ;; esac
  sleep 0.2
done
"""


def test_cutting_the_primary_off_makes_it_refuse_writes_within_its_lag_bound_and_loses_nothing(
        api_keys, network_cut, redis):
    """A partition, not a kill: the primary's VM keeps running, cut from the other nodes. The queue
    replicas on its side still reach it; its writes stop once no replica has acknowledged for
    min-replicas-max-lag (5 s); none of them was acknowledged (WAIT counted no replica)."""
    victim = primary_victim(api_keys, redis, "emeraude")
    lag_bound = 5
    vm, line = redis.in_task("redis", "sh -s", user="emeraude")
    assert vm == victim, (vm, victim)
    with Probe(api_keys, "emeraude") as probe, Load(lambda: Client("prod", api_keys), "emeraude") as load:
        time.sleep(5)
        writer = subprocess.Popen(ssh_argv(vm, line), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        writer.stdin.write(WRITE_UNTIL_REFUSED.format(queue="emeraude"))
        writer.stdin.close()
        first = writer.stdout.readline()
        assert first.endswith(" OK\n"), f"a write before the cut: {first!r} {writer.stderr.read()[-500:]}"
        cut_at = time.monotonic()
        cut_wall = network_cut(victim)
        # The loop ends at its first refusal, or after 60 s.
        writes = [(float(at), reply) for at, reply in
                  (answer.rstrip("\n").split(" ", 1) for answer in [first, *writer.stdout])]
        writer.wait(timeout=30)
        refused_at, refusal = writes[-1]
        assert refusal.startswith("NOREPLICAS"), \
            f"the cut primary never refused a write in 60 s: {writes[-3:]} {writer.stderr.read()[-500:]}"
        # A write is done by the time its reply arrives: the last OK's reply bounds the last accepted write.
        accepted_after = max(at for at, reply in writes if reply == "OK") - cut_wall
        refused_after = refused_at - cut_wall
        promoted = promoted_primary(redis, victim)
        wait_for("a take acknowledged after the cut", lambda: probe.answered_again(cut_at), timeout=120, interval=0.5)
        time.sleep(3)
        network_cut.heal(victim)
        healed_at = time.monotonic()
        wait_for("the old primary a replica", lambda: redis.info("redis").get("role") == "slave", timeout=120)
        rejoined = time.monotonic() - healed_at
        # The engine may have lost the names of the cut node's tasks (deploy/ansible/files/swarm-names.sh):
        # every node's tasks must be found by their names again, the lost ones started anew.
        wait_for("every task of every node found by its names", lambda: all(
            swarm_names(vm)["waitline_swarm_names_missing"] == 0 for vm in HOSTS), timeout=150, interval=5)
        named = time.monotonic() - healed_at
        restarted = swarm_names(victim, daemon=True)["waitline_swarm_names_restarts_total"]
        time.sleep(2)
    line = outcome(f"cut {victim} off (prod Redis primary)", load, probe, cut_at,
                   drain(Client("prod", api_keys), "emeraude"))
    figure(f"{line}; {len(writes)} writes on the cut primary, timed there: the last accepted at most "
           f"{accepted_after:.1f} s after the cut, the first refused {refused_after:.1f} s after it (lag bound "
           f"{lag_bound} s: {refusal[:40]}); {promoted} promoted; the old primary a replica {rejoined:.1f} s "
           f"after the heal; every task of every node found by its names at a check {named:.0f} s after it "
           f"({restarted:.0f} of {victim}'s tasks restarted by its check for a lost name since it started)")
    # Redis counts a replica's lag in whole seconds from its acknowledgements (one a second) and
    # updates the count of good replicas once a second: a write may pass up to 3 s past the bound.
    assert accepted_after <= lag_bound + 3, f"the cut primary accepted writes {accepted_after:.1f} s after the cut"
    state = redis.same_data("emeraude")
    assert len({(c, w) for _, c, w in state.values()}) == 1, state
    redis.switch_to("redis")


def test_killing_the_active_edge_vm_moves_the_virtual_ip_and_production_answers_within_5_s(
        api_keys, power_cut, redis):
    redis.switch_to("redis")
    victim = wait_for("an edge node holding the virtual IP", vip_holder, timeout=30)
    spread_queue("rubis")
    drain(Client("prod", api_keys), "rubis")
    with Probe(api_keys, "rubis") as probe, Load(lambda: Client("prod", api_keys), "rubis") as load:
        time.sleep(3)
        killed_at = time.monotonic()
        power_cut(victim)
        holder = wait_for("the virtual IP on the other edge node", lambda: (h := vip_holder()) not in (None, victim) and h,
                          timeout=30, interval=0.2)
        moved = time.monotonic() - killed_at
        wait_for("a take acknowledged after the fault", lambda: probe.answered_again(killed_at), timeout=60, interval=0.2)
        time.sleep(3)
    line = outcome(f"kill {victim} (edge, holding the virtual IP)", load, probe, killed_at,
                   drain(Client("prod", api_keys), "rubis"))
    figure(f"{line}; the virtual IP on {holder} {moved:.1f} s after the kill")
    assert probe.answered_again(killed_at) <= 5, line


def spare_node() -> str:
    """A production VM that holds neither the Redis primary nor the virtual IP."""
    holder = vip_holder()
    redis_vms = {task_nodes(f"{PROJECT}-prod_redis")[0]}
    spare = [vm for vm in HOSTS if "production" in roles(vm) and vm != holder and vm not in redis_vms]
    assert spare, "every production node holds the primary or the virtual IP?"
    return spare[0]


def test_killing_a_manager_keeps_quorum_and_a_deploy_still_works(api_keys, power_cut, redis):
    redis.switch_to("redis")
    victim = spare_node()
    assert victim in MANAGERS
    with Probe(api_keys, "emeraude") as probe, Load(lambda: Client("prod", api_keys), "emeraude") as load:
        time.sleep(3)
        killed_at = time.monotonic()
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
    figure(outcome(f"kill manager {victim}", load, probe, killed_at, drain(Client("prod", api_keys), "emeraude")))


def test_killing_a_vm_with_a_queue_replica_keeps_the_queue_answering(api_keys, power_cut, redis):
    redis.switch_to("redis")
    service = f"{PROJECT}-prod_rubis"
    spread_queue("rubis")
    victim = spare_node()
    if victim not in task_nodes(service):
        docker(f"service scale -d {service}=1")
        docker(f"service scale -d {service}=2")
        wait_for(f"a replica of rubis on {victim}", lambda: victim in task_nodes(service), timeout=180)
    drain(Client("prod", api_keys), "rubis")
    with Probe(api_keys, "rubis") as probe, Load(lambda: Client("prod", api_keys), "rubis") as load:
        time.sleep(3)
        killed_at = time.monotonic()
        power_cut(victim)
        time.sleep(20)
        answered = load.acknowledged_since(killed_at)
    figure(f"queue replica node {victim} killed: {answered} requests answered in the 20 s after "
           f"(attempts in flight to the lost replica failed and were sent again)")
    assert answered > 0, "the queue stopped answering"
    figure(outcome(f"kill {victim} (queue replica)", load, probe, killed_at, drain(Client("prod", api_keys), "rubis")))


def test_killing_a_storage_node_keeps_the_volume_serving_and_it_heals(api_keys, power_cut, redis, prometheus):
    redis.switch_to("redis")
    victim = spare_node()
    assert "storage" in roles(victim)
    reader = redis.vm_of("redis")
    drain(Client("prod", api_keys), "saphir")
    with Probe(api_keys, "saphir") as probe, Load(lambda: Client("prod", api_keys), "saphir") as load:
        time.sleep(3)
        killed_at = time.monotonic()
        power_cut(victim)
        ssh(reader, "echo written-while-a-brick-was-down >/mnt/waitline/prod/fault-probe && cat /mnt/waitline/prod/fault-probe",
            timeout=120)
        # The monitoring sees the bricks of the lost node down (its peers' view: gluster-metrics.sh).
        down = wait_for("the lost node's three bricks down in Prometheus", lambda: len(found := prometheus(
            f'max by (volume, brick) (waitline_gluster_brick_up{{brick=~"{HOSTS[victim]["ansible_host"]}:.+"}}) == 0'))
            == 3 and found, timeout=90)
        answered = load.acknowledged_since(killed_at)
    assert answered > 0, "production stopped answering while one storage node was down"
    figure(outcome(f"kill {victim} (storage node)", load, probe, killed_at, drain(Client("prod", api_keys), "saphir")))
    start_vm(victim)
    started = time.monotonic()
    wait_for("the volume healed (no entry left to heal)",
             lambda: all(line.strip() == "Number of entries: 0" for line in
                         ssh(reader, "gluster volume heal waitline-prod info").splitlines() if "Number of entries" in line),
             timeout=300, interval=5)
    assert ssh(victim, "cat /srv/gluster/prod/fault-probe") == "written-while-a-brick-was-down"
    figure(f"storage node {victim} killed: {answered} requests answered while it was down, its {len(down)} bricks seen "
           f"down by the monitoring; its bricks healed {time.monotonic() - started:.0f} s after it came back")
    ssh(reader, "rm -f /mnt/waitline/prod/fault-probe")
