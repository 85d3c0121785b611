#!/usr/bin/env python3
"""What scripts/setup/docker-engine.sh reads and writes that the shell cannot do alone.

    engine-settings.py address IFACE             the interface's IPv4 address; nothing when it has none
    engine-settings.py daemon-json FILE METRICS  the new content of dockerd's daemon.json with our
                                                 settings (METRICS: the metrics-addr), the operator's
                                                 others kept; nothing when FILE already says so

The address is read from the interface itself (SIOCGIFADDR): a minimal Debian has no iproute2,
and `docker network inspect bridge` may still show an empty gateway right after dockerd answers.
"""
import fcntl
import json
import os
import socket
import struct
import sys

SIOCGIFADDR = 0x8915


def address(interface: str) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        raw = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", interface.encode()))
        print(socket.inet_ntoa(raw[20:24]))
    except OSError:
        pass  # no such interface yet, or no IPv4 address on it


def daemon_json(path: str, metrics_addr: str) -> None:
    conf = json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) else {}
    wanted = {"metrics-addr": metrics_addr, "no-new-privileges": True, "userland-proxy": False}
    if any(conf.get(k) != v for k, v in wanted.items()):
        conf.update(wanted)
        print(json.dumps(conf, indent=2))


if __name__ == "__main__":
    if sys.argv[1:2] == ["address"] and len(sys.argv) == 3:
        address(sys.argv[2])
    elif sys.argv[1:2] == ["daemon-json"] and len(sys.argv) == 4:
        daemon_json(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__.strip().split("\n\n")[1])
