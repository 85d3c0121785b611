"""Monitoring on several nodes: node and engine metrics come from every node of the cluster, the
data path's (GlusterFS, production's Redis servers and Sentinels) too, and every panel of every
dashboard has data there, as the end-to-end suite checks on one node. Prometheus is reached as an
operator does: through the proxy, on its host name, with the monitoring password."""
from __future__ import annotations

import sys
import time

from conftest import HOSTS, NODE, PLATFORMS, PROJECT, QUEUES, ROOT, Client, docker, figure, wait_for, HTTPS_PORT

sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from dashboard_queries import empty_panels  # noqa: E402  (the e2e suite's substitution, not a copy)


def fresh(selector: str) -> str:
    """The selector's series scraped in the last 10 s. A Prometheus killed with its VM (the fault
    tests power VMs off) leaves the last samples of targets that are gone since, and an instant
    query still returns them for five minutes (its lookback). A plain selector only: timestamp()
    of any other expression (`up == 1`) is the evaluation time, so nothing would be filtered."""
    return f"({selector} and (time() - timestamp({selector}) < 10))"


def per_node(query, selector: str, label: str) -> set[str]:
    return {series["metric"].get(label, "") for series in query(fresh(selector))}


def test_node_and_engine_metrics_come_from_every_node(prometheus):
    every = {NODE[vm] for vm in HOSTS}

    def node_exporters():
        found = per_node(prometheus, "node_uname_info", "nodename")
        if found >= every:
            return found
        # What is missing says where it broke: a target Prometheus does not know (the swarm's DNS has
        # no record of the task), a known target it cannot scrape (the overlay network), or no task.
        targets = sorted((s["metric"]["instance"], s["value"][1]) for s in prometheus('up{job="node"}'))
        tasks = docker(f"service ps {PROJECT}-monitoring_node-exporter --filter desired-state=running "
                       "--format '{{.Node}} {{.CurrentState}}'").splitlines()
        raise AssertionError(f"no node_uname_info from {sorted(every - found)}; targets {targets}; tasks {tasks}")
    nodes = wait_for("node_exporter on every node", node_exporters, timeout=120)
    # The engine's own metrics carry no node name: one healthy target per node, each reporting the
    # running containers of its own engine (the cluster's total is their sum).
    def engine_targets():
        found = prometheus(fresh('up{job="engine"}') + " == 1")
        assert len(found) == len(every), sorted(s["metric"]["instance"] for s in found)
        return found
    engines = wait_for("an engine target per node", engine_targets, timeout=120)
    per_engine = prometheus(fresh('engine_daemon_container_states_containers{state="running"}'))
    running = sum(float(s["value"][1]) for s in per_engine)
    assert len(per_engine) == len(every) and all(float(s["value"][1]) > 0 for s in per_engine), per_engine
    figure(f"monitoring: node_exporter on {len(nodes)} nodes ({', '.join(sorted(nodes))}), engine metrics from "
           f"{len(engines)} engines, {running:.0f} running containers in the cluster")


def test_every_panel_of_every_dashboard_has_data_on_the_cluster(prometheus, api_keys):
    for platform in PLATFORMS:
        client = Client(platform, api_keys)
        for queue in QUEUES:
            for op in ("get_ticket", "get_ticket", "call_ticket"):
                assert client.request("POST", queue, op).status_code == 200
            assert client.request("GET", queue, "list_tickets").status_code == 200
            # Without a key: a 4xx in the error-ratio panels.
            client.session.post(f"https://{client.address}:{HTTPS_PORT}/{queue}/get_ticket", verify=False,
                                headers={"Host": client.host}, timeout=5)
    # rate() needs two scrapes of the new counters (2 s apart in the test profile).
    time.sleep(8)
    dashboards = sorted((ROOT / "observability" / "dashboards").glob("*.json"))
    assert dashboards
    checked, empty = empty_panels(dashboards, prometheus, PLATFORMS, QUEUES)
    figure(f"dashboards on the cluster: {checked} panel queries over {len(dashboards)} dashboards, {len(empty)} empty")
    assert not empty, "panels without data:\n" + "\n".join(empty)


def test_the_data_path_is_monitored_glusterfs_and_sentinel(prometheus):
    """Every brick up and every peer connected, as each storage node sees it; no entry to heal;
    three Sentinels that agree on the primary and see its two replicas; the primary's replicas
    and their lag."""
    storage = [vm for vm in HOSTS if "storage" in HOSTS[vm]["waitline_roles"]]
    bricks = wait_for("every brick of every volume reported up", lambda: (
        found := prometheus(fresh("waitline_gluster_brick_up"))) and len({
            (s["metric"]["volume"], s["metric"]["brick"]) for s in found}) == 3 * len(PLATFORMS) and
        all(float(s["value"][1]) == 1 for s in found) and found, timeout=120)
    peers = prometheus(fresh("waitline_gluster_peer_connected"))
    assert len(peers) == len(storage) * (len(storage) - 1) and all(float(p["value"][1]) == 1 for p in peers), peers
    heal = prometheus(fresh("waitline_gluster_heal_entries"))
    assert heal and all(float(h["value"][1]) == 0 for h in heal), heal
    sentinels = wait_for("three Sentinels seen", lambda: len(found := prometheus(
        fresh('redis_sentinel_master_ok_slaves{platform="prod"}'))) == 3 and found, timeout=120)
    assert all(float(s["value"][1]) == 2 for s in sentinels), sentinels
    primaries = {s["metric"]["master_address"] for s in prometheus(fresh('redis_sentinel_master_status{platform="prod"}'))}
    assert len(primaries) == 1, f"the Sentinels disagree on the primary: {primaries}"
    lag = prometheus(fresh('redis_connected_slave_lag_seconds{platform="prod"}'))
    assert len(lag) == 2, lag
    figure(f"data path monitoring: {len(bricks)} bricks up (as {len(storage)} storage nodes see them), {len(peers)} "
           f"peer links connected, 0 entries to heal; 3 Sentinels agree on {primaries.pop()} with 2 replicas, "
           f"lag {max(float(x['value'][1]) for x in lag):.0f} s")
