"""waitline on four simulated VMs: placement, storage, and the loss of a node under load."""
from __future__ import annotations

import time

from conftest import (ADDRESS, HOSTS, MANAGERS, NODE, PROJECT, Client, Load, assert_no_loss_no_duplicate, docker,
                      drain, figure, kill_vm, running, ssh, start_vm, task_nodes, wait_for)

PLATFORMS = ("dev", "qualif", "prod")
QUEUES = ("rubis", "saphir", "emeraude", "diamant")


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


def test_killing_the_vm_that_runs_production_redis_loses_no_acknowledged_ticket(api_keys):
    service = f"{PROJECT}-prod_redis"
    victim = task_nodes(service)[0]
    assert "edge" not in roles(victim), "the test expects the proxy elsewhere"
    client = Client("prod", api_keys)
    drain(client, "diamant")
    with Load(lambda: Client("prod", api_keys), "diamant") as load:
        time.sleep(5)
        before = len(load.taken)
        assert before > 0, f"no take acknowledged before the fault ({load.errors} errors)"
        killed_at = time.monotonic()
        kill_vm(victim)
        new_node = wait_for("prod's Redis running on another node",
                            lambda: [n for n in task_nodes(service, avoid=(victim,)) if n != victim], timeout=240)
        recovered = wait_for("a take acknowledged after the fault",
                             lambda: load.first_ok_after(time.monotonic() - 1) if load.first_ok_after(killed_at + 1) else None,
                             timeout=240)
        time.sleep(3)
    recover_s = load.first_ok_after(killed_at + 1) - killed_at
    figure(f"prod Redis node {victim} killed: Redis back on {new_node[0]}, first acknowledged take "
           f"{recover_s:.1f} s after the kill")
    assert_no_loss_no_duplicate(load, drain(Client("prod", api_keys, avoid=(victim,)), "diamant"),
                                f"kill {victim} (prod Redis)")
    start_vm(victim)
    wait_for(f"{victim} back in the swarm", lambda: docker(f"node inspect {NODE[victim]} --format '{{{{.Status.State}}}}'") == "ready")
    assert recovered
