"""Acceptance 4: the proxy never retries a take or a call, the legacy GET forms included.

The real proxy image, with its real configuration, is put in front of two upstreams that the test
makes on a network of its own: both answer to the name prod-rubis (so the proxy has a second
address to retry on), and both accept a request, log it, and close the connection without an
answer (nginx's 444) - the failure a retry would "fix". Each take or call must reach exactly one
upstream once. A read (list_tickets), which is safe to retry, is the control: it does reach the
second upstream, so the rig can see a retry when one happens.
"""
import subprocess
import time
import uuid

import pytest
import requests

from conftest import CA, QUEUES, ROOT, SECRETS, docker, images, wait_for

FAILING_UPSTREAM = """
worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr;
events {}
http {
  client_body_temp_path /tmp/body;
  proxy_temp_path /tmp/proxy;
  fastcgi_temp_path /tmp/fastcgi;
  uwsgi_temp_path /tmp/uwsgi;
  scgi_temp_path /tmp/scgi;
  log_format line "HIT $request_method $request_uri";
  access_log /dev/stdout line;
  server { listen 8000; location / { return 444; } }
}
"""


@pytest.fixture(scope="module")
def rig(deployment, tmp_path_factory):
    tag = uuid.uuid4().hex[:8]
    net = f"wle2e-retry-{tag}"
    tmp = tmp_path_factory.mktemp("retry")
    tmp.chmod(0o755)
    conf = tmp / "upstream.conf"
    conf.write_text(FAILING_UPSTREAM)
    # The proxy reads its certificate as its own user (www-data): readable copies of the test's.
    for name in ("tls.crt", "tls.key"):
        (tmp / name).write_bytes((SECRETS / name).read_bytes())
    for f in tmp.iterdir():
        f.chmod(0o644)
    proxy_image = images()["WAITLINE_PROXY_IMAGE"]
    names = [f"{net}-up1", f"{net}-up2", f"{net}-proxy"]
    docker("network", "create", net)
    try:
        for name in names[:2]:
            docker("run", "-d", "--name", name, "--network", net, "--network-alias", "prod-rubis",
                   "-v", f"{conf}:/etc/nginx/upstream.conf:ro", "--entrypoint", "nginx", proxy_image,
                   "-c", "/etc/nginx/upstream.conf", "-g", "daemon off;")
        docker("run", "-d", "--name", names[2], "--network", net, "-p", "127.0.0.1::8443",
               "-e", f"WAITLINE_QUEUES={' '.join(QUEUES)}",
               "-v", f"{tmp / 'tls.crt'}:/run/secrets/tls_cert:ro",
               "-v", f"{tmp / 'tls.key'}:/run/secrets/tls_key:ro", proxy_image)
        port = docker("port", names[2], "8443/tcp").splitlines()[0].rsplit(":", 1)[1]
        url = f"https://127.0.0.1:{port}"
        wait_for(lambda: _try(url), 30, "the proxy under test to answer")

        def log() -> dict[str, list[str]]:
            out = {}
            for name in names[:2]:
                p = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
                out[name[-3:]] = [line for line in p.stdout.splitlines() if line.startswith("HIT ")]
            return out

        def hits(action):
            """The upstream requests that `action` caused, as "up1 HIT POST /get_ticket"."""
            before = log()
            action()
            time.sleep(0.5)
            after = log()
            return [f"{up} {line}" for up in after for line in after[up][len(before[up]):]]

        yield url, hits
    finally:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True)
        subprocess.run(["docker", "network", "rm", net], capture_output=True)


def _try(url):
    try:
        return requests.get(url + "/", timeout=2, verify=CA).status_code == 404
    except requests.RequestException:
        return False


@pytest.mark.parametrize("method,path", [("POST", "/rubis/get_ticket"), ("GET", "/rubis/get_ticket"),
                                         ("POST", "/rubis/call_ticket"), ("GET", "/rubis/call_ticket")])
def test_a_failed_take_or_call_reaches_one_upstream_once_and_is_not_retried(rig, method, path):
    url, hits = rig

    def four_requests():
        for _ in range(4):
            r = requests.request(method, url + path, headers={"Host": "prod.localhost"}, timeout=20, verify=CA)
            assert r.status_code == 502
            assert r.json()["error"]["code"] == "upstream_unavailable"

    new = hits(four_requests)
    assert len(new) == 4, f"expected 4 upstream hits for 4 requests, got {new}"
    assert all(h.endswith(f"{method} {path.removeprefix('/rubis')}") for h in new), new


def test_control_a_read_is_retried_on_the_other_upstream(rig):
    url, hits = rig

    def one_read():
        r = requests.get(url + "/rubis/list_tickets", headers={"Host": "prod.localhost"}, timeout=20, verify=CA)
        assert r.status_code == 502

    new = hits(one_read)
    assert len(new) == 2 and {h.split()[0] for h in new} == {"up1", "up2"}, new


def test_the_deployed_configuration_turns_retries_off_for_take_and_call(deployment):
    conf = (ROOT / "deploy" / "docker" / "proxy" / "nginx.conf").read_text()
    block = conf[conf.index("(get_ticket|call_ticket)"):]
    block = block[:block.index("proxy_pass")]
    assert "proxy_next_upstream off;" in block
