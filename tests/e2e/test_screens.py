"""The people's screens (kiosk, desk, waiting-room display, phone ticket) in a real browser.

Runs tests/e2e/screens/screens.test.mjs (Node, playwright-core driving Debian's Chromium) against
production's pages through the HTTPS proxy, with the queue's own device keys as `make up` made
them. Its screenshots land in build/screens/ (`make screens` copies them into docs/screens/).
"""
from __future__ import annotations

import os
import subprocess

from conftest import CA, DESCRIBED, HTTPS_PORT, ROOT, containers_of, figure, service

QUEUE = "emeraude"
OUT = ROOT / "build" / "screens"


def test_the_peoples_screens_work_in_a_real_browser_through_the_proxy(deployment):
    redis = containers_of(service("prod", "redis"))
    assert len(redis) == 1, redis
    env = dict(os.environ,
               NODE_EXTRA_CA_CERTS=CA,
               SCREENS_ORIGIN=f"https://prod.localhost:{HTTPS_PORT}",
               SCREENS_QUEUE=QUEUE,
               SCREENS_LABEL=DESCRIBED.labels.get(QUEUE, QUEUE.capitalize()),
               SCREENS_KEY_DESK=deployment.keys[("prod", QUEUE, "desk")],
               SCREENS_KEY_KIOSK=deployment.keys[("prod", QUEUE, "kiosk")],
               SCREENS_KEY_SCREEN=deployment.keys[("prod", QUEUE, "screen")],
               SCREENS_OUT=str(OUT),
               SCREENS_REDIS=redis[0])
    p = subprocess.run(["node", "tests/e2e/screens/screens.test.mjs"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=900)
    for line in p.stdout.splitlines():
        if "figure: " in line:
            figure(line.split("figure: ", 1)[1])
    assert p.returncode == 0, f"--- stdout\n{p.stdout[-12000:]}\n--- stderr\n{p.stderr[-4000:]}"
    for name in ("kiosk", "desk", "display", "phone"):
        assert (OUT / f"{name}.png").stat().st_size > 10_000, f"no screenshot of the {name}"
