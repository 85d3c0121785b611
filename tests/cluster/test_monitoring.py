"""Monitoring on several nodes (issue 11, item 7): node and engine metrics come from every node of
the cluster, and every panel of every dashboard has data there, as the end-to-end suite checks on
one node. Prometheus is reached as an operator does: through the proxy, on its host name, with
the monitoring password."""
from __future__ import annotations

import sys
import time

import pytest
import requests

from conftest import HOME, HOSTS, MANAGERS, NODE, PLATFORMS, PROJECT, QUEUES, ROOT, Client, figure, proxy_address, ssh, wait_for, HTTPS_PORT

sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from dashboard_queries import empty_panels  # noqa: E402  (the e2e suite's substitution, not a copy)


@pytest.fixture(scope="module")
def prometheus():
    password = ssh(MANAGERS[0], f"cat {HOME}/.secrets/{PROJECT}/monitoring_password")
    session = requests.Session()
    session.auth = ("monitoring", password)
    # verify=False on each request: a session's is overridden by REQUESTS_CA_BUNDLE when that is
    # set (the proxy's certificate is self-signed, for another name than the node's address).
    session.headers["Host"] = "prometheus.localhost"
    base = f"https://{proxy_address()}:{HTTPS_PORT}"

    def query(expr: str) -> list[dict]:
        body = session.get(f"{base}/api/v1/query", params={"query": expr}, timeout=15, verify=False).json()
        assert body["status"] == "success", (expr, body)
        return body["data"]["result"]
    wait_for("Prometheus ready", lambda: session.get(f"{base}/-/ready", timeout=5, verify=False).ok, timeout=120)
    return query


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
    nodes = wait_for("node_exporter on every node",
                     lambda: (found := per_node(prometheus, "node_uname_info", "nodename")) >= every and found,
                     timeout=120)
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
