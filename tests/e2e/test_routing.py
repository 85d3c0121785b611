"""Acceptance 4 (R9): one proxy, three platforms by host name, four queues by path."""
import itertools
import json
import re

import pytest
import requests

from conftest import CA, HTTPS_PORT, PLATFORMS, PROJECT, QUEUES, SECRETS, URL, containers_of, docker, figure, service


def test_every_platform_and_queue_answers_take_call_list_and_docs_through_the_proxy(deployment):
    """3 x 4 x {take, call, list, docs}. The ticket numbers prove the routing: combination n takes
    n + 1 tickets in a row; had two combinations shared a backend, a counter would show it."""
    combos = list(itertools.product(PLATFORMS, QUEUES))
    apis = {c: deployment.api(*c) for c in combos}
    for c in combos:  # the load tests before this one leave thousands of tickets in production's queues
        if apis[c].list()["waiting"] > 500:
            apis[c].drain()  # so that one listing shows the newest
    first = {c: apis[c].take() for c in combos}          # each counter's current value
    for n, c in enumerate(combos):
        for _ in range(n):
            apis[c].take()
    for n, c in enumerate(combos):
        last = apis[c].take()
        assert last == first[c] + n + 1, f"{c}: expected ticket {first[c] + n + 1}, got {last}"
        listing = apis[c].list()
        assert listing["queue"] == c[1]
        assert listing["tickets"][-n - 2:] == list(range(first[c], last + 1)), c
        # The call serves the oldest waiting ticket of this queue on this platform.
        oldest = listing["tickets"][0]
        assert apis[c].call() == oldest
        docs = apis[c].request("GET", "/docs")
        assert docs.status_code == 200 and "swagger-ui" in docs.text, c


def test_production_is_the_default_without_a_platform_host_name(deployment):
    prod = deployment.api("prod", "emeraude")
    before = prod.take()
    for host in ("localhost", "127.0.0.1", "waitline.example"):
        r = requests.post(f"{URL}/emeraude/get_ticket", timeout=10, verify=CA,
                          headers={"Host": host, "Authorization": f"Bearer {prod.key}"})
        assert r.status_code == 200, r.text
        before += 1
        assert r.json()["ticket"] == before, host
    # HTTP/1.0 without any Host header.
    raw = _raw_http(b"GET /emeraude/list_tickets HTTP/1.0\r\nAuthorization: Bearer " + prod.read_key.encode() + b"\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200"), raw[:200]


def test_the_proxy_keeps_its_connections_to_a_queue_across_requests(deployment):
    """ADR 0008: nginx pools its connections to each queue. A connection the proxy closes stays in
    TIME_WAIT on its side for 60 s, so one connection per request (nginx 1.22) would leave one such
    socket to port 8000 per request; the pool leaves none, and fewer connections than requests."""
    proxy = containers_of(service("edge", "proxy"))
    assert len(proxy) == 1, proxy
    pid = docker("inspect", "--format", "{{.State.Pid}}", proxy[0])
    api = deployment.api("prod", "saphir")
    requests_sent = 40
    before = _sockets_to_queues(pid)
    for _ in range(requests_sent):
        api.session = requests.Session()  # a new client connection each time as well
        api.list(limit=1)
    after = _sockets_to_queues(pid)
    closed = {s for s, state in after.items() if state == "TIME_WAIT"} - {s for s, state in before.items() if state == "TIME_WAIT"}
    used = {s for s, state in after.items() if state == "ESTABLISHED"}
    figure(f"proxy pool: {requests_sent} requests to prod/saphir, {len(closed)} upstream connections closed, "
           f"{len(used)} open to the queues after")
    assert len(closed) == 0, f"the proxy closed {len(closed)} upstream connections for {requests_sent} requests"
    assert 0 < len(used) < requests_sent


def _sockets_to_queues(pid: str) -> dict[tuple[str, str], str]:
    """The TCP sockets of the proxy's network namespace whose remote port is 8000 (the queues'
    API), from /proc/<pid>/net/tcp: (local, remote) -> state."""
    states = {"01": "ESTABLISHED", "06": "TIME_WAIT"}
    out = {}
    with open(f"/proc/{pid}/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if remote.endswith(":1F40"):
                out[(local, remote)] = states.get(state, state)
    return out


def _raw_http(request: bytes) -> bytes:
    """The request as written, over TLS without a server name (no SNI, as no Host)."""
    import socket
    import ssl
    context = ssl.create_default_context(cafile=CA)
    with socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        s.sendall(request)
        chunks = []
        while data := s.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def test_https_with_the_certificate_made_by_make_up(deployment):
    api = deployment.api("qualif", "diamant")
    ca = str(SECRETS / "tls.crt")
    # The certificate names prod/dev/qualif.localhost; requests checks it against the URL's host,
    # so connect to the name (resolved to 127.0.0.1 here, never elsewhere).
    import urllib3.util.connection as conn
    original = conn.create_connection

    def loopback(address, *args, **kw):
        host, port = address
        assert host.endswith("localhost") or host == "127.0.0.1", host
        return original(("127.0.0.1", port), *args, **kw)

    conn.create_connection = loopback
    try:
        r = api.session.post(f"https://qualif.localhost:{HTTPS_PORT}/diamant/get_ticket", timeout=10,
                             verify=ca, headers={"Authorization": f"Bearer {api.key}"})
        assert r.status_code == 200 and r.json()["queue"] == "diamant", r.text
        listing = api.session.get(f"https://qualif.localhost:{HTTPS_PORT}/diamant/list_tickets", timeout=10,
                                  verify=ca, headers={"Authorization": f"Bearer {api.read_key}"}).json()
        assert r.json()["ticket"] in listing["tickets"]
    finally:
        conn.create_connection = original


def test_docs_load_their_spec_and_assets_under_the_queue_prefix(deployment):
    api = deployment.api("prod", "rubis")
    page = api.request("GET", "/docs")
    assert page.status_code == 200
    # Every asset the page names is relative, so it resolves under /rubis/ and is served.
    for ref in re.findall(r'(?:href|src)="([^"]+)"', page.text):
        assert not ref.startswith(("/", "http:", "https:")), ref
        r = api.request("GET", "/" + ref)
        assert r.status_code == 200, ref
    script = api.request("GET", "/docs/swagger-initializer.js").text
    spec_url = re.search(r'url:\s*"([^"]+)"', script).group(1)
    assert not spec_url.startswith("/")
    spec = api.request("GET", "/" + spec_url)       # /rubis/openapi.json, as the browser resolves it
    assert spec.status_code == 200
    assert spec.json()["openapi"].startswith("3.")
    assert "/get_ticket" in spec.json()["paths"]
    # The request reached the service with the prefix stripped and named in X-Forwarded-Prefix:
    # /rubis alone redirects to the docs.
    r = requests.get(f"{URL}/rubis", allow_redirects=False, timeout=10, verify=CA)
    assert r.status_code in (301, 302) and r.headers["Location"] == "/rubis/docs"


@pytest.mark.parametrize("path", ["/nope/get_ticket", "/nope", "/", "/rubi/list_tickets", "/RUBIS/list_tickets",
                                  "/get_ticket"])
def test_unknown_queue_is_a_json_404(deployment, path):
    r = requests.post(f"{URL}{path}", timeout=10, verify=CA, headers={"Host": "prod.localhost"})
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/rubis/metrics", "/rubis/readyz", "/rubis/livez", "/rubis/metrics/",
                                  "/rubis/./metrics", "/saphir/%6detrics", "/metrics", "/readyz", "/livez",
                                  "/rubis/docs/../metrics", "/rubis//metrics"])
@pytest.mark.parametrize("platform", PLATFORMS)
def test_admin_endpoints_are_not_reachable_through_the_proxy(deployment, platform, path):
    r = requests.get(f"{URL}{path}", timeout=10, verify=CA, headers={"Host": f"{platform}.localhost"})
    assert r.status_code == 404, (path, r.status_code, r.text[:200])
    assert "waitline_" not in r.text and "ready" not in r.text


def test_every_api_call_needs_a_key_with_the_right_scope(deployment):
    api = deployment.api("prod", "saphir")
    assert api.request("POST", "/get_ticket").status_code == 401
    assert api.request("GET", "/list_tickets").status_code == 401
    assert api.request("POST", "/get_ticket", "wl_not-a-key").status_code == 401
    assert api.request("POST", "/get_ticket", api.read_key).status_code == 403     # the screen key reads only
    # A key of another platform or queue is not valid here.
    assert api.request("POST", "/get_ticket", deployment.api("dev", "saphir").key).status_code == 401
    assert api.request("POST", "/get_ticket", deployment.api("prod", "rubis").key).status_code == 401


def test_a_platform_that_is_down_gets_a_json_502_and_the_others_still_answer(deployment):
    """The proxy resolves names per request: with dev's diamant scaled to 0, dev/diamant fails
    cleanly and every other route still works."""
    from conftest import docker, service, wait_for
    svc = service("dev", "diamant")
    docker("service", "scale", "-d", f"{svc}=0")
    try:
        api = deployment.api("dev", "diamant")
        r = wait_for(lambda: (x := api.request("GET", "/list_tickets", api.read_key)).status_code == 502 and [x],
                     60, "dev/diamant to be down")[0]
        assert r.json()["error"]["code"] == "upstream_unavailable"
        assert deployment.api("dev", "rubis").take() > 0
        assert deployment.api("prod", "diamant").take() > 0
    finally:
        docker("service", "scale", "-d", f"{svc}=1")
        from conftest import run
        run("scripts/platform/swarm.sh", "wait")


def test_one_request_id_follows_a_request_through_the_proxy_and_the_service(deployment):
    """The proxy sends its $request_id as X-Request-Id; the service answers with it and both log it,
    so one request can be followed from the proxy's log line to the service's."""
    from conftest import containers_of, docker, service, wait_for
    api = deployment.api("prod", "diamant")
    r = api.request("POST", "/get_ticket", api.key)
    assert r.status_code == 200, r.text
    request_id = r.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id), request_id     # nginx's $request_id

    def lines_with_id(svc: str) -> list[dict]:
        found = []
        for container in containers_of(svc):
            for line in docker("logs", "--since", "2m", container).splitlines():
                if request_id in line:
                    found.append(json.loads(line))
        return found

    # The proxy writes its access log in batches (flushed within a second).
    proxy_lines = wait_for(lambda: lines_with_id(f"{PROJECT}-edge_proxy"), 15, "the proxy's log line", 0.5)
    assert [(x["request_id"], x["uri"], x["status"]) for x in proxy_lines] == [(request_id, "/diamant/get_ticket", 200)]
    assert proxy_lines[0]["upstream_status"] == "200"
    service_lines = wait_for(lambda: lines_with_id(service("prod", "diamant")), 15, "the service's log line", 0.5)
    assert [x["request_id"] for x in service_lines] == [request_id]
