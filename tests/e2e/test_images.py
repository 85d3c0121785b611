"""Acceptance 1 (R6): the images - built from Debian slim bases made here, small, non-root, labelled."""
import io
import json
import re
import subprocess
import tarfile

from conftest import ROOT, docker, figure, images


def inspect(image: str) -> dict:
    return json.loads(docker("image", "inspect", image))[0]


# The base each image starts from: Debian bookworm, but the proxy, whose nginx must resolve names in
# upstream groups (1.27.3 or later: docs/adr/0008-proxy-on-forky.md).
BASES = {"proxy.Dockerfile": "debian:forky-slim"}


def test_every_dockerfile_builds_from_debian_slim_made_by_base_image_sh():
    for dockerfile in sorted((ROOT / "deploy" / "docker").glob("*.Dockerfile")):
        stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", dockerfile.read_text(), re.M | re.I)
        assert stages, dockerfile
        bases = [base for base, _ in stages]
        base_image = BASES.get(dockerfile.name, "debian:bookworm-slim")
        # Each stage starts from the file's Debian base or from an earlier stage of the same file
        # (which does); `scratch` only as the final stage that receives a filesystem assembled on it.
        for i, base in enumerate(bases[:-1]):
            assert base == base_image or base in [name for _, name in stages[:i]], (dockerfile.name, bases)
        assert bases[-1] in (base_image, "scratch") or bases[-1] in [n for _, n in stages[:-1]], (dockerfile.name, bases)
        if bases[-1] == "scratch":
            assert "COPY --from=build /rootfs/ /" in dockerfile.read_text()
    # base-image.sh makes every base named here when the engine lacks it (make images runs it).
    made = (ROOT / "scripts" / "setup" / "base-image.sh").read_text()
    for base_image in {"debian:bookworm-slim", *BASES.values()}:
        assert base_image in made, base_image
        assert inspect(base_image)["Os"] == "linux"


def test_the_proxy_has_an_nginx_that_resolves_names_in_upstream_groups():
    # nginx -v writes to stderr.
    version = docker("run", "--rm", "--entrypoint", "sh", images()["WAITLINE_PROXY_IMAGE"], "-c", "nginx -v 2>&1")
    major, minor, patch = map(int, re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", version).groups())
    assert (major, minor, patch) >= (1, 27, 3), version


def test_the_application_image_is_small_non_root_shell_less_and_checks_its_own_health(deployment):
    image = images()["WAITLINE_IMAGE"]
    info = inspect(image)
    size_mb = info["Size"] / 1e6
    assert size_mb <= 25, f"{size_mb:.1f} MB"
    config = info["Config"]
    assert config["User"] == "10001:10001"
    assert config["Healthcheck"]["Test"] == ["CMD", "/usr/local/bin/waitline", "healthcheck"]
    assert config["Entrypoint"] == ["/usr/local/bin/waitline"]
    # Exactly the binary, its shared libraries and the account files: no shell, no package manager.
    container = docker("create", image)
    try:
        tar = subprocess.run(["docker", "export", container], capture_output=True, check=True).stdout
    finally:
        docker("rm", container)
    files = sorted(m.name for m in tarfile.open(fileobj=io.BytesIO(tar)).getmembers() if m.isfile())
    docker_made = {"etc/hostname", "etc/hosts", "etc/resolv.conf", ".dockerenv", "dev/console"}
    assert [f for f in files if f not in docker_made] == [
        "etc/group", "etc/nsswitch.conf", "etc/passwd",
        "lib/x86_64-linux-gnu/libc.so.6", "lib/x86_64-linux-gnu/libcrypto.so.3", "lib/x86_64-linux-gnu/libm.so.6",
        "lib64/ld-linux-x86-64.so.2", "usr/local/bin/waitline"], files
    p = subprocess.run(["docker", "run", "--rm", "--entrypoint", "/bin/sh", image, "-c", "true"],
                       capture_output=True, text=True)
    assert p.returncode != 0
    figure(f"application image {image}: {size_mb:.1f} MB, {len(files) - len(docker_made & set(files))} files, uid 10001")


def test_every_image_carries_oci_labels(deployment):
    for image in images().values():
        labels = inspect(image)["Config"]["Labels"]
        for key in ("version", "revision", "source"):
            assert labels.get(f"org.opencontainers.image.{key}"), (image, key)
        assert labels["org.opencontainers.image.version"] == re.search(
            r"project\(waitline VERSION ([0-9.]+)", (ROOT / "CMakeLists.txt").read_text()).group(1)
    sizes = {i.split(":")[0]: f"{inspect(i)['Size'] / 1e6:.0f} MB" for i in images().values()}
    figure(f"image sizes: {sizes}")


def test_redis_and_proxy_images_run_as_non_root(deployment):
    tags = images()
    assert inspect(tags["WAITLINE_REDIS_IMAGE"])["Config"]["User"] == "999:999"
    assert inspect(tags["WAITLINE_PROXY_IMAGE"])["Config"]["User"] == "33:33"
