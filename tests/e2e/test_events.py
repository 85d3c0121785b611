"""Live events, the visitor's ticket link and browser sessions, through the HTTPS proxy.

What a waiting-room screen and a phone see: a call made at a desk reaches a stream held open
through nginx within a second; a ticket's link opens under the queue's prefix; a page's session
cookie is limited to that prefix and only works from the site's own pages.
"""
from __future__ import annotations

import json
import subprocess
import threading
import time

import requests

from conftest import CA, HTTPS_PORT, URL, figure


def curl_stream(api, path: str, key: str | None = None) -> tuple[subprocess.Popen, list[tuple[float, str]]]:
    """`curl -N` on a stream through the proxy; returns the process and the lines it prints, each
    with the monotonic time it arrived (filled by a reader thread)."""
    cmd = ["curl", "-sN", "--cacert", CA, "--resolve", f"{api.host}:{HTTPS_PORT}:127.0.0.1",
           f"https://{api.host}:{HTTPS_PORT}/{api.queue}{path}"]
    if key:
        cmd[2:2] = ["-H", f"Authorization: Bearer {key}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, bufsize=1)
    lines: list[tuple[float, str]] = []

    def read():
        for line in proc.stdout:
            lines.append((time.monotonic(), line.rstrip("\n")))
    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def wait_line(lines, predicate, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for at, line in list(lines):
            if predicate(line):
                return at, line
        time.sleep(0.01)
    raise AssertionError(f"no such line within {timeout} s; got: {[line for _, line in lines][-20:]}")


def test_a_call_reaches_a_stream_held_through_the_proxy_within_a_second(deployment):
    api = deployment.api("prod", "saphir")
    screen = deployment.keys[("prod", "saphir", "screen")]
    proc, lines = curl_stream(api, "/events", screen)
    try:
        wait_line(lines, lambda l: l == "event: snapshot")
        ticket = api.take()
        gaps = []
        for counter in ("3", "guichet-1"):
            if counter != "3":
                ticket = api.take()
            r = api.request("POST", f"/call_ticket?counter={counter}", api.key)
            answered = time.monotonic()
            assert r.status_code == 200, r.text
            called = r.json()["ticket"]
            at, line = wait_line(lines, lambda l, c=counter, t=called: l.startswith("data: ") and
                                 json.loads(l[6:]).get("counter") == c and json.loads(l[6:])["ticket"] == t)
            gaps.append(at - answered)
        assert max(gaps) < 1.0, gaps
        figure(f"events: a call's event reached curl -N through the proxy {max(gaps) * 1000:.0f} ms "
               f"after its answer (worst of {len(gaps)})")
    finally:
        proc.kill()


def test_a_ticket_link_opens_under_the_prefix_and_its_stream_says_when_it_is_called(deployment):
    api = deployment.api("prod", "emeraude")
    api.drain()
    r = api.request("POST", "/get_ticket", api.key)
    assert r.status_code == 200, r.text
    url = r.json()["ticket_url"]
    assert url.startswith("/emeraude/tickets/"), url
    status = requests.get(f"{URL}{url}", headers={"Host": api.host}, verify=CA, timeout=10)
    assert status.status_code == 200, status.text
    assert status.json()["state"] == "waiting" and status.json()["ahead"] == 0
    path, query = url.split("?")
    proc, lines = curl_stream(api, path.removeprefix("/emeraude") + "/events?" + query)
    try:
        wait_line(lines, lambda l: l.startswith("data: ") and json.loads(l[6:])["state"] == "waiting")
        assert api.request("POST", "/call_ticket?counter=5", api.key).status_code == 200
        _, line = wait_line(lines, lambda l: l.startswith("data: ") and json.loads(l[6:])["state"] == "called")
        assert json.loads(line[6:])["counter"] == "5"
    finally:
        proc.kill()
    # A wrong token: the answer of an unknown ticket.
    wrong = requests.get(f"{URL}{path}?token=AAAAAAAAAAAAAAAAAAAAAA", headers={"Host": api.host}, verify=CA, timeout=10)
    assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "not_found"


def test_a_pages_session_cookie_is_the_queues_and_only_works_from_its_own_pages(deployment):
    api = deployment.api("prod", "diamant")
    opened = api.request("POST", "/session", api.key)
    assert opened.status_code == 204, opened.text
    cookie = opened.headers["Set-Cookie"]
    for part in ("Path=/diamant;", "HttpOnly", "SameSite=Strict", "Secure"):
        assert part in cookie, cookie
    value = cookie.split(";")[0]
    same = api.request("POST", "/get_ticket", headers={"Cookie": value, "Origin": f"https://{api.host}"})
    assert same.status_code == 200, same.text
    chromium_like = api.request("POST", "/get_ticket", headers={"Cookie": value, "Sec-Fetch-Site": "same-origin"})
    assert chromium_like.status_code == 200, chromium_like.text
    other = api.request("POST", "/get_ticket", headers={"Cookie": value, "Origin": "https://evil.example"})
    assert other.status_code == 403 and other.json()["error"]["code"] == "cross_site", other.text
    # The events stream opens with the cookie, as EventSource would.
    proc = subprocess.Popen(["curl", "-sN", "--cacert", CA, "-H", f"Cookie: {value}", "--resolve",
                             f"{api.host}:{HTTPS_PORT}:127.0.0.1", f"https://{api.host}:{HTTPS_PORT}/diamant/events"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("retry: ")
    finally:
        proc.kill()
