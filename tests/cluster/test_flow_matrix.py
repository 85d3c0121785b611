"""The flow matrices of the installation guides (docs/livrables/guide-*.md, section 5) against
the ports that the cluster's nodes actually listen on: nothing listens on a node's network
address that the matrix does not open there, and every inbound flow of the matrix has a listener."""
from __future__ import annotations

import re

from conftest import ADDRESS, HOSTS, MANAGERS, ROOT, ssh

GUIDES = ("guide-orchestrateur.md", "guide-stockage.md")

# The guides' names for a set of nodes.
# The guides name a role by its label (`edge`) or in French (nœuds de stockage).
ROLE_NAMES = {"de stockage": "storage", "de production": "production", "hors production": "non-production",
              "de supervision": "monitoring"}


def destination(name: str) -> set[str]:
    name = name.strip().lower().replace("`", "")
    if name == "tous les nœuds":
        return set(HOSTS)
    if name == "managers":
        return set(MANAGERS)
    m = re.fullmatch(r"nœuds? (production|non-production|storage|edge|monitoring|de stockage|de production|"
                     r"hors production|de supervision)", name)
    assert m, f"unknown destination in a flow matrix: {name!r}"
    role = ROLE_NAMES.get(m.group(1), m.group(1))
    return {vm for vm, spec in HOSTS.items() if role in spec["waitline_roles"]}


def matrix() -> list[tuple[set[str], range, str, str]]:
    rows = []
    for guide in GUIDES:
        text = (ROOT / "docs/livrables" / guide).read_text()
        section = text.split("## 5. Matrice de flux", 1)[1].split("\n## ", 1)[0]
        for line in section.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 5 or not re.fullmatch(r"\d+(-\d+)?", cells[2]):
                continue
            low, _, high = cells[2].partition("-")
            rows.append((destination(cells[1]), range(int(low), int(high or low) + 1), cells[3].lower(),
                         f"{guide}: {line.strip()}"))
    assert rows, "no flow matrix found"
    return rows


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
            if not any(vm in dest and port in span and proto == p for dest, span, p, _ in rows):
                unexpected.append(f"{vm} ({ADDRESS[vm]}) listens on {proto}/{port}")
    assert not unexpected, "listening but not in the flow matrix:\n" + "\n".join(unexpected)
    missing = [row for dest, span, proto, row in rows
               if not any((proto, port) in observed[vm] for vm in dest for port in span)]
    assert not missing, "in the flow matrix but nothing listens:\n" + "\n".join(missing)
