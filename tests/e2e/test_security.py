"""Issue 9 (R15, R18) on the real stack: HTTPS only at the edge, secrets owner-only and never
printed, least-privilege Redis users, monitoring behind a password."""
from __future__ import annotations

import socket
import ssl

import pytest
import requests

from conftest import (CA, HTTP_PORT, HTTPS_PORT, PLATFORMS, PROJECT, QUEUES, SECRETS, URL, docker, figure,
                      monitoring_request, redis_cli, service)


# --- item 1: HTTPS only ---------------------------------------------------------------------------
@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_keyed_take_or_call_over_http_is_redirected_and_reaches_no_queue(deployment, platform):
    api = deployment.api(platform, "rubis")
    before = api.take()
    waiting = api.list()["waiting"]
    for method, path in (("POST", "/rubis/get_ticket"), ("GET", "/rubis/get_ticket"),
                         ("POST", "/rubis/call_ticket"), ("GET", "/rubis/call_ticket")):
        r = requests.request(method, f"http://127.0.0.1:{HTTP_PORT}{path}", allow_redirects=False, timeout=10,
                             headers={"Host": f"{platform}.localhost", "Authorization": f"Bearer {api.key}"})
        assert r.status_code == 308, (method, path, r.status_code, r.text[:200])
        assert r.headers["Location"] == f"https://{platform}.localhost:{HTTPS_PORT}{path}"
        assert "ticket" not in r.text
    # Nothing was called (the same tickets wait) and nothing was taken (the counter moved by one).
    assert api.list()["waiting"] == waiting
    assert api.take() == before + 1


def test_https_answers_carry_hsts(deployment):
    api = deployment.api("prod", "saphir")
    for r in (api.request("GET", "/list_tickets", api.read_key), api.request("POST", "/get_ticket"),
              api.request("GET", "/nope")):
        hsts = r.headers.get("Strict-Transport-Security", "")
        assert "max-age=31536000" in hsts and "includeSubDomains" in hsts, (r.status_code, hsts)


def _handshake(configure) -> str:
    """The negotiated protocol and cipher, or the server's refusal as the error's text."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(CA)
    configure(ctx)
    try:
        with socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return f"{s.version()} {s.cipher()[0]}"
    except ssl.SSLError as e:
        return f"refused: {e}"


def test_tls_is_1_2_or_1_3_with_forward_secret_aead_ciphers_only(deployment):
    def tls13(ctx):
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3

    def tls12_gcm(ctx):
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")

    def tls12_cbc(ctx):  # a legacy CBC suite, outside the intermediate list
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0")

    def tls11(ctx):
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")

    assert _handshake(tls13).startswith("TLSv1.3 ")
    assert _handshake(tls12_gcm) == "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256"
    # The server refuses these (an alert from it), not our client.
    cbc = _handshake(tls12_cbc)
    assert cbc.startswith("refused") and "HANDSHAKE_FAILURE" in cbc.upper(), cbc
    old = _handshake(tls11)
    assert old.startswith("refused") and "PROTOCOL_VERSION" in old.upper(), old


def test_taking_or_calling_on_get_is_off_in_production_only(deployment):
    prod, dev = deployment.api("prod", "diamant"), deployment.api("dev", "diamant")
    waiting = prod.list()["waiting"]
    for path in ("/get_ticket", "/call_ticket"):
        r = prod.request("GET", path, prod.key)
        assert r.status_code == 405, (path, r.status_code, r.text)
    assert prod.list()["waiting"] == waiting
    assert dev.request("GET", "/get_ticket", dev.key).status_code == 200


# --- item 5: secrets ------------------------------------------------------------------------------
def test_secret_files_are_owner_only_and_each_platform_has_its_own_key_file(deployment):
    loose = [f"{oct(p.stat().st_mode & 0o777)} {p}" for p in [SECRETS, *SECRETS.rglob("*")]
             if p.stat().st_mode & 0o077]
    assert not loose, loose
    for platform in PLATFORMS:
        lines = [l for l in (SECRETS / platform / "api-keys.txt").read_text().splitlines() if not l.startswith("#")]
        assert {l.split()[0] for l in lines} == {platform}
        assert len(lines) == 3 * len(QUEUES)   # desk, kiosk and screen
    assert not (SECRETS / "api-keys.txt").exists()


# --- item 4: Redis least privilege ----------------------------------------------------------------
def test_a_queue_user_reaches_only_its_own_keys_and_no_admin_command(deployment):
    deployment.api("prod", "saphir").take()
    saphir_before = redis_cli("prod", "saphir", "GET ticket_number_saphir")
    replies = redis_cli("prod", "rubis", "GET ticket_number_saphir", "LLEN queue_saphir", "CONFIG GET maxmemory",
                        "FLUSHALL", "SHUTDOWN", "KEYS *", "SCAN 0", "ACL LIST",
                        "EVAL \"return redis.call('GET', 'ticket_number_saphir')\" 0", "LLEN queue_rubis")
    refused = replies[:-1]
    assert len(refused) == 9, replies
    # FLUSHALL is also renamed away in redis.conf: unknown before the ACL is even asked.
    assert all("NOPERM" in r or "can't access" in r or "unknown command" in r for r in refused), replies
    assert replies[-1].isdigit(), replies        # its own queue, through the same login
    assert redis_cli("prod", "saphir", "GET ticket_number_saphir") == saphir_before


def test_the_default_user_is_off_and_the_exporter_and_backup_users_cannot_write(deployment):
    assert any("NOAUTH" in r for r in redis_cli("prod", None, "PING", "GET ticket_number_rubis"))
    exporter = redis_cli("prod", "exporter", "SET ticket_number_rubis 0", "DEL queue_rubis", "INFO server")
    assert "NOPERM" in exporter[0] and "NOPERM" in exporter[1] and "# Server" in exporter, exporter
    backup = redis_cli("prod", "backup", "GET ticket_number_rubis", "CONFIG GET dir")
    assert all("NOPERM" in r for r in backup), backup
    spec = docker("service", "inspect", service("prod", "redis_exporter"), "--format",
                  "{{json .Spec.TaskTemplate.ContainerSpec.Env}}")
    assert "REDIS_PASSWORD=" not in spec and "REDIS_PASSWORD_FILE" in spec, spec


# --- item 2: monitoring behind a password ---------------------------------------------------------
SILENCE = {"matchers": [{"name": "alertname", "value": "WaitlineSecurityTest", "isRegex": False}],
           "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
           "createdBy": "e2e", "comment": "made by test_security"}


def _silences() -> list[dict]:
    r = monitoring_request("GET", "alertmanager", "/api/v2/silences")
    assert r.status_code == 200, r.text
    return [s for s in r.json() if s["comment"] == SILENCE["comment"] and s["status"]["state"] != "expired"]


@pytest.mark.parametrize("ui", ["prometheus", "alertmanager", "grafana"])
def test_monitoring_without_the_password_is_401(deployment, ui):
    for auth in (False, ("monitoring", "wrong"), ("admin", "admin")):
        r = monitoring_request("GET", ui, "/", auth=False) if auth is False else \
            requests.get(f"{URL}/", headers={"Host": f"{ui}.localhost"}, auth=auth, verify=CA, timeout=10)
        assert r.status_code == 401 and "Basic" in r.headers.get("WWW-Authenticate", ""), (ui, auth, r.status_code)


def test_no_silence_can_be_made_without_the_password_and_one_can_with_it(deployment):
    r = monitoring_request("POST", "alertmanager", "/api/v2/silences", auth=False, json=SILENCE)
    assert r.status_code == 401
    assert not _silences()
    made = monitoring_request("POST", "alertmanager", "/api/v2/silences", json=SILENCE)
    assert made.status_code == 200, made.text
    try:
        assert len(_silences()) == 1
    finally:
        monitoring_request("DELETE", "alertmanager", f"/api/v2/silence/{made.json()['silenceID']}")
    assert not _silences()


def test_monitoring_with_the_password_is_200_and_publishes_no_port(deployment):
    for ui in ("prometheus", "alertmanager"):
        r = monitoring_request("GET", ui, "/-/ready")
        assert r.status_code == 200, (ui, r.status_code, r.text[:200])
    for name in ("prometheus", "alertmanager", "grafana"):
        ports = docker("service", "inspect", f"{PROJECT}-monitoring_{name}", "--format", "{{json .Spec.EndpointSpec}}")
        assert "PublishedPort" not in ports, (name, ports)
    # Nothing listens any more where they used to be published (9090/9093/3000 for this project).
    for port in (19090, 19093, 13000):
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=3).close()
    figure("monitoring: 401 without the password on 3 host names, 200 with it; no published port")
