"""Acceptance 2: `make up` is idempotent, `make status` shows every service and its replicas."""
import os

from conftest import PLATFORMS, PROJECT, QUEUES, SECRETS, docker, run


def _tasks() -> list[str]:
    ids = []
    for stack in [f"{PROJECT}-{p}" for p in PLATFORMS] + [f"{PROJECT}-edge"]:
        ids += docker("stack", "ps", stack, "-q", "--filter", "desired-state=running").split()
    return sorted(ids)


def test_make_up_again_changes_nothing(deployment):
    before = _tasks()
    secrets_before = {p: p.read_bytes() for p in SECRETS.rglob("*") if p.is_file()}
    out = run("make", "up", timeout=1200).stdout
    assert _tasks() == before, "a second make up replaced running tasks"
    assert {p: p.read_bytes() for p in SECRETS.rglob("*") if p.is_file()} == secrets_before
    # It prints where everything is.
    for platform in ("prod", "dev", "qualif"):
        assert f"https://{platform}.localhost:" in out
    assert f"{SECRETS}/<platform>/api-keys.txt" in out
    # ... and no secret: no API key, no password (issue 9, item 5).
    printed = out + deployment.up_output
    leaked = [k for k in deployment.keys.values() if k in printed]
    leaked += [f.name for f in SECRETS.rglob("*.password") if f.read_text().strip() in printed]
    assert not leaked, f"make up printed {len(leaked)} secrets"


def test_make_status_shows_every_service_and_its_replicas(deployment):
    out = run("make", "status").stdout
    for platform in PLATFORMS:
        for name in (*QUEUES, "redis"):
            line = next(l for l in out.splitlines() if l.startswith(f"{PROJECT}-{platform}_{name} "))
            running, desired = line.split()[1].split("/")
            assert running == desired and int(desired) >= 1, line
    assert f"{PROJECT}-edge_proxy" in out
    assert "budget: ok" in out


def test_secrets_are_docker_secrets_and_stay_out_of_git(deployment):
    names = docker("secret", "ls", "--format", "{{.Name}}").split()
    for platform in PLATFORMS:
        assert any(n.startswith(f"{PROJECT}-{platform}_redis_acl_") for n in names)
        for q in QUEUES:
            assert any(n.startswith(f"{PROJECT}-{platform}_{q}_api_keys_") for n in names)
    assert oct(os.stat(SECRETS).st_mode & 0o777) == "0o700"
    assert run("git", "check-ignore", "-q", str(SECRETS / "prod" / "api-keys.txt"), check=False).returncode == 0
