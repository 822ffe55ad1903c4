"""Local stand-ins for the compose stack's base images when the registry cannot be reached.

``docker-compose.localstack.yml`` names its images through settings with the
official images as defaults (``REDIS_IMAGE``, ``LOCALSTACK_IMAGE``,
``AWS_CLI_IMAGE``, ``FLOWER_IMAGE``; the Dockerfiles' ``PYTHON_IMAGE``). For
each, this uses the official image when it is present or can be pulled, and
otherwise builds a stand-in from Debian's and PyPI's packages under a name of
its own (``media-jobs-standin/...``; an official name is never reused):

- a Debian bookworm root filesystem made with ``debootstrap --variant=minbase``
  and the host's CA bundle, imported as ``media-jobs-standin/debian:bookworm-minbase``;
- Python: Debian's Python 3.11; Redis: Debian's redis-server; S3 in place of
  LocalStack: moto's server on port 4566; the AWS CLI (v1, from PyPI); Flower.

Stand-ins are cached: an image whose recipe (Dockerfile, the files it copies,
build arguments, parent image) is unchanged is reused. The recipes live in
``docker/standins/``.

    python -m scripts.standin_images            # prints VAR=image lines for docker compose
    python -m scripts.standin_images --always   # stand-ins even when the registry answers
    python -m scripts.standin_images --only PYTHON_IMAGE   # the worker image's base only
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STANDINS = ROOT / "docker" / "standins"
COMPOSE_FILE = ROOT / "docker-compose.localstack.yml"
WORKER_DOCKERFILE = ROOT / "worker" / "Dockerfile"
CONSTRAINTS = ROOT / "constraints.txt"

BASE_IMAGE = "media-jobs-standin/debian:bookworm-minbase"
SUITE = "bookworm"
KEY_LABEL = "media-jobs.standin-key"
# Versions of the stand-ins' own tools that the service does not pin itself.
AWSCLI_VERSION = "1.46.3"
FLOWER_VERSION = "2.0.1"
# A registry that does not answer should not hold the run up for long.
PULL_TIMEOUT = float(os.environ.get("STANDIN_PULL_TIMEOUT", "60"))


class StandinError(RuntimeError):
    """A stand-in could not be built."""


@dataclass
class Standin:
    """How to build the stand-in for one image setting."""

    setting: str
    tag: str
    dockerfile: str
    # The setting whose image this one is built FROM (None: the debootstrapped base).
    parent: str | None = None
    files: list[str] = field(default_factory=list)
    args: dict[str, str] = field(default_factory=dict)


def pinned(package: str) -> str:
    """The version of ``package`` in constraints.txt: the stand-ins use the service's pins."""
    match = re.search(
        rf"^{re.escape(package)}==(\S+)", CONSTRAINTS.read_text(), re.MULTILINE | re.IGNORECASE
    )
    if not match:
        raise StandinError(f"{package} is not pinned in {CONSTRAINTS.name}")
    return match.group(1)


def standins() -> list[Standin]:
    """The stand-ins, parents first."""
    moto = pinned("moto")
    return [
        Standin("PYTHON_IMAGE", "media-jobs-standin/python:3.11-bookworm", "python.Dockerfile"),
        Standin(
            "REDIS_IMAGE",
            "media-jobs-standin/redis:7-bookworm",
            "redis.Dockerfile",
            files=["redis-entrypoint.sh"],
        ),
        Standin(
            "LOCALSTACK_IMAGE",
            f"media-jobs-standin/s3-moto:{moto}",
            "s3.Dockerfile",
            parent="PYTHON_IMAGE",
            files=["s3_emulator.py"],
            args={"MOTO_VERSION": moto},
        ),
        Standin(
            "AWS_CLI_IMAGE",
            f"media-jobs-standin/aws-cli:{AWSCLI_VERSION}",
            "awscli.Dockerfile",
            parent="PYTHON_IMAGE",
            args={"AWSCLI_VERSION": AWSCLI_VERSION},
        ),
        Standin(
            "FLOWER_IMAGE",
            f"media-jobs-standin/flower:{FLOWER_VERSION}",
            "flower.Dockerfile",
            parent="PYTHON_IMAGE",
            args={
                "FLOWER_VERSION": FLOWER_VERSION,
                "CELERY_VERSION": pinned("celery"),
                "REDIS_PY_VERSION": pinned("redis"),
            },
        ),
    ]


def official_images() -> dict[str, str]:
    """The default of every image setting: ``${VAR:-image}`` in the compose file, and the
    Dockerfiles' ``ARG PYTHON_IMAGE=...``."""
    images = dict(re.findall(r"\$\{(\w+_IMAGE):-([^}]+)\}", COMPOSE_FILE.read_text()))
    python = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", WORKER_DOCKERFILE.read_text(), re.MULTILINE)
    if python is None:
        raise StandinError(f"no ARG PYTHON_IMAGE default in {WORKER_DOCKERFILE}")
    images["PYTHON_IMAGE"] = python.group(1)
    return images


def docker(*args: str, check: bool = True, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], check=check, text=True, **kwargs)  # type: ignore[call-overload]


def image_id(image: str) -> str | None:
    found = docker(
        "image", "inspect", "--format", "{{.Id}}", image, check=False, capture_output=True
    )
    return found.stdout.strip() if found.returncode == 0 else None


def image_key(image: str) -> str | None:
    found = docker(
        "image",
        "inspect",
        "--format",
        f'{{{{index .Config.Labels "{KEY_LABEL}"}}}}',
        image,
        check=False,
        capture_output=True,
    )
    return found.stdout.strip() if found.returncode == 0 else None


def can_use_official(image: str) -> bool:
    """True if ``image`` is here already or a pull succeeds within ``PULL_TIMEOUT``."""
    if image_id(image):
        return True
    try:
        pulled = docker(
            "pull", "--quiet", image, check=False, capture_output=True, timeout=PULL_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return False
    return pulled.returncode == 0


def host_ca_bundle() -> Path:
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise StandinError("no CA bundle found (set SSL_CERT_FILE)")


def host_debian_mirror() -> str | None:
    """The Debian mirror this host's apt uses, so debootstrap fetches from the same place."""
    sources = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for path in sources:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        deb822 = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", text, re.MULTILINE)
        one_line = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s+\S+", text, re.MULTILINE)
        for found in (deb822, one_line):
            if found:
                return found.group(1)
    return None  # debootstrap's own default


def base_key() -> str:
    recipe = {
        "suite": SUITE,
        "variant": "minbase",
        "ca": hashlib.sha256(host_ca_bundle().read_bytes()).hexdigest(),
        # Changing how the base is made changes its key.
        "recipe": hashlib.sha256(inspect.getsource(build_base).encode()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def build_base(log: Log) -> str:
    """Debian bookworm (minbase) from debootstrap, with the host's CA bundle, imported."""
    key = base_key()
    if image_key(BASE_IMAGE) == key:
        return BASE_IMAGE
    if os.geteuid() != 0:
        raise StandinError("building the Debian base needs root (debootstrap): run as root")
    if shutil.which("debootstrap") is None:
        raise StandinError("debootstrap is missing: apt-get install debootstrap")
    log(f"building {BASE_IMAGE} with debootstrap (about a minute or two)")
    with tempfile.TemporaryDirectory(prefix="media-jobs-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        mirror = host_debian_mirror()
        subprocess.run(
            ["debootstrap", "--variant=minbase", SUITE, str(rootfs), *([mirror] if mirror else [])],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        # The host's bundle (it may hold a proxy's CA) both as the bundle itself, for
        # apt and pip right away, and as a local CA, so that update-ca-certificates
        # in a stand-in keeps it.
        bundle = host_ca_bundle().read_bytes()
        (rootfs / "etc/ssl/certs").mkdir(parents=True, exist_ok=True)
        (rootfs / "etc/ssl/certs/ca-certificates.crt").write_bytes(bundle)
        (rootfs / "usr/local/share/ca-certificates").mkdir(parents=True, exist_ok=True)
        (rootfs / "usr/local/share/ca-certificates/host-bundle.crt").write_bytes(bundle)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (rootfs / cache).glob("*"):
                if item.is_file():
                    item.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        docker(
            "import",
            "--change",
            f"LABEL {KEY_LABEL}={key}",
            "--change",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change",
            'CMD ["bash"]',
            "-",
            BASE_IMAGE,
            stdin=tar.stdout,
            stdout=subprocess.DEVNULL,
        )
        if tar.wait() != 0:
            raise StandinError("tar of the root filesystem failed")
    return BASE_IMAGE


def recipe_key(standin: Standin, parent_id: str) -> str:
    digest = hashlib.sha256()
    for name in [standin.dockerfile, *standin.files]:
        digest.update(name.encode() + b"\0" + (STANDINS / name).read_bytes() + b"\0")
    digest.update(json.dumps(standin.args, sort_keys=True).encode())
    digest.update(parent_id.encode())
    return digest.hexdigest()[:16]


def build_with_compose(builds: list[tuple[Standin, str, str]], log: Log) -> None:
    """Build several stand-ins at once through ``docker compose build``: it drives
    BuildKit through the engine's API, so cache mounts work without the buildx plugin."""
    services = {}
    for standin, parent, key in builds:
        arg = "BASE_IMAGE" if standin.parent is None else "PYTHON_IMAGE"
        services[standin.setting.lower()] = {
            "image": standin.tag,
            "build": {
                "context": str(STANDINS),
                "dockerfile": standin.dockerfile,
                "args": {arg: parent, **standin.args},
                "labels": {KEY_LABEL: key},
            },
        }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as spec:
        json.dump({"name": "media-jobs-standins", "services": services}, spec)
    try:
        log("building " + ", ".join(s.tag for s, _, _ in builds))
        subprocess.run(
            ["docker", "compose", "-f", spec.name, "build", "--progress", "plain"],
            check=True,
            stdout=subprocess.DEVNULL if not os.environ.get("STANDIN_VERBOSE") else None,
            stderr=subprocess.PIPE if not os.environ.get("STANDIN_VERBOSE") else None,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        raise StandinError(f"building stand-ins failed:\n{(exc.stderr or '')[-4000:]}") from exc
    finally:
        os.unlink(spec.name)


class Log:
    """Progress lines on standard error, so standard output stays VAR=image lines."""

    def __call__(self, message: str) -> None:
        print(f"standin-images: {message}", file=sys.stderr, flush=True)


def ensure_images(
    always: bool = False, log: Log | None = None, only: set[str] | None = None
) -> dict[str, str]:
    """The image for every setting (or the ``only`` ones, with what they are built
    FROM): the official one when it can be had, else a stand-in."""
    log = log or Log()
    official = official_images()
    recipes = standins()
    if only:
        parents = {s.parent for s in recipes if s.setting in only and s.parent}
        official = {name: image for name, image in official.items() if name in only | parents}
        recipes = [s for s in recipes if s.setting in official]
    missing = {s.setting for s in recipes} - set(official)
    if missing:
        raise StandinError(f"no official default for {sorted(missing)}")
    chosen: dict[str, str] = {}
    if not always:
        with concurrent.futures.ThreadPoolExecutor(len(official)) as pool:
            usable = dict(zip(official, pool.map(can_use_official, official.values()), strict=True))
        chosen = {name: official[name] for name, ok in usable.items() if ok}
    needed = [s for s in recipes if s.setting not in chosen]
    if not needed:
        return chosen
    log("the registry does not answer for " + ", ".join(official[s.setting] for s in needed))
    base = build_base(log)
    # Parents first: the Python stand-in is the base of three others.
    built: dict[str, str] = {}
    for wave in ([s for s in needed if s.parent is None], [s for s in needed if s.parent]):
        builds = []
        for standin in wave:
            parent = base if standin.parent is None else chosen[standin.parent]
            parent_id = image_id(parent)
            if parent_id is None:
                raise StandinError(f"{parent} is missing")
            key = recipe_key(standin, parent_id)
            if image_key(standin.tag) == key:
                built[standin.setting] = "cached"
            else:
                builds.append((standin, parent, key))
            chosen[standin.setting] = standin.tag
        if builds:
            build_with_compose(builds, log)
            built.update({s.setting: "built" for s, _, _ in builds})
    log(", ".join(f"{chosen[name]} ({how})" for name, how in built.items()))
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.standin_images",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--always", action="store_true", help="use stand-ins even when the registry answers"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="SETTING",
        help="only this image setting, such as PYTHON_IMAGE (make package); repeatable",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        images = ensure_images(always=args.always, only=set(args.only or ()))
    except (StandinError, subprocess.CalledProcessError) as exc:
        print(f"standin-images: {exc}", file=sys.stderr)
        return 1
    for name, image in sorted(images.items()):
        print(f"{name}={image}")
    print(f"standin-images: ready in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
