"""The flow matrices of the installation guides (docs/livrables/guide-*.md, section 5) against the
cluster's nodes, whose firewall (nftables, deploy/ansible/site.yml) drops what they do not open:
nothing listens on a node that the matrix does not open there; every flow of the matrix passes,
tried as a connection from its source (UDP and VRRP: by the packets their rule accepted); and a
sample of flows outside the matrix is refused, each against a listener that a permitted
connection reaches, so that it is the firewall that refuses."""
from __future__ import annotations

import json
import re
import subprocess

from conftest import ADDRESS, EDGES, HOSTS, HTTPS_PORT, MANAGERS, ROOT, VIP, figure, ssh, vip_holder

GUIDES = ("guide-orchestrateur.md", "guide-stockage.md")
HOST = "poste"  # the test host: the operations workstation and the clients

# The guides name a role by its label (`edge`) or in French (nœuds de stockage).
ROLE_NAMES = {"de stockage": "storage", "de production": "production", "hors production": "non-production",
              "de supervision": "monitoring"}


# The guides' names for a set of machines ("clients" and "poste d'exploitation": the test host).
def machines(name: str) -> set[str]:
    name = name.strip().lower().replace("`", "")
    if name in ("clients", "poste d'exploitation"):
        return {HOST}
    if name == "tous les nœuds":
        return set(HOSTS)
    if name == "managers":
        return set(MANAGERS)
    if name == "ip virtuelle (nœuds edge)":
        return {VIP}
    m = re.fullmatch(r"nœuds? (production|non-production|storage|edge|monitoring|de stockage|de production|"
                     r"hors production|de supervision)", name)
    assert m, f"unknown source or destination in a flow matrix: {name!r}"
    role = ROLE_NAMES.get(m.group(1), m.group(1))
    return {vm for vm, spec in HOSTS.items() if role in spec["waitline_roles"]}


def matrix() -> list[tuple[set[str], set[str], range, str, str]]:
    """(sources, destinations, ports, protocol, the row) of every row of the guides' matrices."""
    rows = []
    for guide in GUIDES:
        text = (ROOT / "docs/livrables" / guide).read_text()
        section = text.split("## 5. Matrice de flux", 1)[1].split("\n## ", 1)[0]
        for line in section.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 5 or cells[0] in ("Source", "---"):
                continue
            protocol = cells[3].lower().split()[0]
            if protocol == "vrrp":
                ports = range(0)
            else:
                assert re.fullmatch(r"\d+(-\d+)?", cells[2]), f"{guide}: no port in {line}"
                low, _, high = cells[2].partition("-")
                ports = range(int(low), int(high or low) + 1)
            rows.append((machines(cells[0]), machines(cells[1]), ports, protocol, f"{guide}: {line.strip()}"))
    assert rows, "no flow matrix found"
    return rows


def destinations(dest: set[str]) -> set[str]:
    """The VMs behind a destination (the virtual IP: the edge nodes)."""
    return set(EDGES) if dest == {VIP} else dest


# Listening TCP sockets and unconnected UDP sockets of the node, with their local address.
LISTENERS = r"""
import socket, struct
def addr(hexaddr):
    ip, port = hexaddr.split(':')
    raw = bytes.fromhex(ip)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1]), int(port, 16)
    words = b''.join(raw[i:i+4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words), int(port, 16)
for proto in ('tcp', 'tcp6', 'udp', 'udp6'):
    for line in open('/proc/net/' + proto).readlines()[1:]:
        f = line.split()
        local, remote, state = f[1], f[2], f[3]
        if proto.startswith('tcp') and state != '0A':
            continue
        if proto.startswith('udp') and int(remote.split(':')[1], 16) != 0:
            continue
        ip, port = addr(local)
        print(proto[:3], ip, port)
"""


# Ports that the engine publishes: with "userland-proxy": false (scripts/setup/docker-engine.sh) no
# process listens on them, a NAT rule of the DOCKER chain carries them to the container.
PUBLISHED = re.compile(r"^-A DOCKER .*-p (tcp|udp) .*--dport (\d+) .*-j DNAT", re.M)


def listeners(vm: str) -> set[tuple[str, int]]:
    """(protocol, port) that other machines can reach: sockets bound to any address or to the
    node's own LAN address (not loopback, not docker0's), and the ports the engine publishes."""
    out = ssh(vm, f"python3 -c \"{LISTENERS}\"")
    found = set()
    for line in out.splitlines():
        proto, ip, port = line.split()
        if ip in ("0.0.0.0", "::", ADDRESS[vm]) or ip == f"::ffff:{ADDRESS[vm]}":
            found.add((proto, int(port)))
    found |= {(proto, int(port)) for proto, port in PUBLISHED.findall(ssh(vm, "iptables -t nat -S DOCKER"))}
    return found


def test_every_listening_port_is_in_the_flow_matrix_and_every_flow_has_a_listener():
    rows = matrix()
    observed = {vm: listeners(vm) for vm in HOSTS}
    unexpected = []
    for vm, ports in observed.items():
        for proto, port in sorted(ports):
            if not any(vm in destinations(dest) and port in span and proto == p for _, dest, span, p, _ in rows):
                unexpected.append(f"{vm} ({ADDRESS[vm]}) listens on {proto}/{port}")
    assert not unexpected, "listening but not in the flow matrix:\n" + "\n".join(unexpected)
    missing = [row for _, dest, span, proto, row in rows if proto != "vrrp"
               and not any((proto, port) in observed[vm] for vm in destinations(dest) for port in span)]
    assert not missing, "in the flow matrix but nothing listens:\n" + "\n".join(missing)


# Tries TCP connections at once; prints "address port ok|refused" for each "address:port" argument.
CONNECT = r"""
import socket, sys, concurrent.futures
def one(target):
    host, port = target.rsplit(':', 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        return target, 'ok'
    except OSError:
        return target, 'refused'
with concurrent.futures.ThreadPoolExecutor(32) as pool:
    for target, result in pool.map(one, sys.argv[1:]):
        print(target, result)
"""


def connect(source: str, targets: list[tuple[str, int]]) -> dict[tuple[str, int], bool]:
    """Whether a TCP connection from `source` (a VM, or the test host) to each target opens."""
    if not targets:
        return {}
    args = [f"{host}:{port}" for host, port in targets]
    if source == HOST:
        out = subprocess.run(["python3", "-c", CONNECT, *args], capture_output=True, text=True, timeout=60).stdout
    else:
        out = ssh(source, f"python3 -c \"{CONNECT}\" {' '.join(args)}", timeout=60)
    results = {}
    for line in out.splitlines():
        target, result = line.split()
        host, port = target.rsplit(":", 1)
        results[(host, int(port))] = result == "ok"
    return results


def accepted_packets(vm: str) -> dict[str, int]:
    """Packets each commented rule of the node's firewall counted."""
    table = json.loads(ssh(vm, "nft -j list table inet waitline"))
    counts = {}
    for item in table["nftables"]:
        rule = item.get("rule")
        if rule and rule.get("comment"):
            counter = next((e["counter"] for e in rule["expr"] if "counter" in e), None)
            if counter is not None:
                counts[rule["comment"]] = counter["packets"]
    return counts


# One datagram to each target, each from a new socket (so a new flow for the firewall's
# connection tracking, which counts it by the rule that accepts it). The receiving service drops it
# (VXLAN and Swarm's gossip ignore a datagram that is not theirs).
SEND_UDP = r"""
import socket, sys
for target in sys.argv[1:]:
    host, port = target.rsplit(':', 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b'waitline flow matrix test', (host, int(port)))
"""


def test_every_flow_of_the_matrix_passes():
    rows = matrix()
    observed = {vm: listeners(vm) for vm in HOSTS}
    tried = passed = 0
    failures = []
    by_comment = {"udp/7946": "swarm-gossip-udp", "udp/4789": "swarm-vxlan", "vrrp": "vrrp"}
    # UDP: a datagram from each source to each destination of the row; the destination's rule
    # must count it. VRRP: the adverts keepalived sends all the time.
    udp_rows = [(sources, dest, span, row) for sources, dest, span, proto, row in rows if proto == "udp"]
    before = {vm: accepted_packets(vm) for vm in HOSTS}
    sends: dict[str, list[str]] = {}
    for sources, dest, span, _ in udp_rows:
        for source in sources - {HOST}:
            sends.setdefault(source, []).extend(f"{ADDRESS[vm]}:{span.start}" for vm in destinations(dest) if vm != source)
    for source, targets in sends.items():
        ssh(source, f"python3 -c \"{SEND_UDP}\" {' '.join(sorted(set(targets)))}", timeout=60)
    counted = {vm: accepted_packets(vm) for vm in HOSTS}
    for sources, dest, span, proto, row in rows:
        if proto in ("udp", "vrrp"):
            comment = by_comment["vrrp" if proto == "vrrp" else f"udp/{span.start}"]
            # VRRP: the node that holds the virtual IP sends the adverts, the other one receives them.
            receivers = [vm for vm in destinations(dest) if vm != vip_holder()] if proto == "vrrp" else destinations(dest)
            for vm in receivers:
                tried += 1
                grew = counted[vm].get(comment, 0) > (before[vm].get(comment, 0) if proto == "udp" else 0)
                if grew:
                    passed += 1
                else:
                    failures.append(f"{vm}: no packet accepted by rule {comment!r} ({row})")
            continue
        for source in sources:
            targets = []
            for vm in destinations(dest):
                if vm == source:
                    continue
                ports = [port for p, port in observed[vm] if p == proto and port in span]
                address = VIP if dest == {VIP} else ADDRESS[vm]
                targets += [(address, port) for port in ports[:1]]
            for target, ok in connect(source, sorted(set(targets))).items():
                tried += 1
                passed += ok
                if not ok:
                    failures.append(f"{source} -> {target[0]}:{target[1]} refused ({row})")
    figure(f"firewall: {passed} of {tried} flows of the matrix pass (TCP connections and UDP datagrams sent from "
           f"their sources; VRRP adverts counted by the rule that accepted them)")
    assert not failures, "flows of the matrix that do not pass:\n" + "\n".join(failures)


def test_flows_outside_the_matrix_are_refused():
    """Each against a port where something listens: what refuses is the firewall."""
    production = next(vm for vm in HOSTS if "production" in HOSTS[vm]["waitline_roles"] and vm not in EDGES)
    edge, other_edge = EDGES[0], EDGES[1]
    # Stand-ins for Redis, a Sentinel and a queue's admin port on a production node's address.
    ports = (6379, 26379, 8001)
    listener = (f"import socket, time\nsocks = []\nfor p in {ports}:\n    s = socket.socket(); "
                f"s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', p)); s.listen(); socks.append(s)\n"
                f"time.sleep(120)")
    ssh(production, f"nohup python3 -c \"{listener}\" >/dev/null 2>&1 & sleep 1")
    try:
        stand_ins = [(ADDRESS[production], port) for port in ports]
        control = connect(production, stand_ins)
        assert all(control.values()), f"the stand-in listeners do not answer on {production}: {control}"
        refused = {
            f"Redis, Sentinel and a queue's admin port of {production} from an edge node ({edge})":
                (edge, stand_ins),
            "Swarm's management port of the managers from outside the cluster network (the test host)":
                (HOST, [(ADDRESS[vm], 2377) for vm in MANAGERS]),
            "GlusterFS from outside the cluster network": (HOST, [(ADDRESS[production], 24007)]),
            f"SSH between nodes ({edge} to {production}; only from the administration network)":
                (edge, [(ADDRESS[production], 22)]),
            f"the proxy on an edge node's own address ({other_edge}) instead of the virtual IP":
                (HOST, [(ADDRESS[other_edge], HTTPS_PORT)]),
        }
        allowed = {
            "Swarm's management port from a node": (EDGES[0], [(ADDRESS[MANAGERS[0]], 2377)]),
            "the proxy on the virtual IP": (HOST, [(VIP, HTTPS_PORT)]),
            "SSH from the administration network": (HOST, [(ADDRESS[production], 22)]),
        }
        wrong = []
        for what, (source, targets) in refused.items():
            results = connect(source, targets)
            assert len(results) == len(targets), results
            wrong += [f"passes: {what}: {t[0]}:{t[1]}" for t, ok in results.items() if ok]
        for what, (source, targets) in allowed.items():
            wrong += [f"refused: {what}: {t[0]}:{t[1]}" for t, ok in connect(source, targets).items() if not ok]
    finally:
        ssh(production, "pkill -f 'socks.append' || true", check=False)
    figure(f"firewall: {sum(len(t) for _, t in refused.values())} connections outside the matrix refused "
           f"({'; '.join(refused)}), {sum(len(t) for _, t in allowed.values())} controls in it passed")
    assert not wrong, "\n".join(wrong)

