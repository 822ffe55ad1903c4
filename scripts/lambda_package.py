"""The API's Lambda package built with the tested pins, and trimmed of what the API never imports.

``chalice package`` resolves requirements.txt on its own, so without help the
Lambda would ship whatever PyPI has newest for the unpinned transitive
dependencies (botocore 1.44.18 where the suite tests 1.44.8). ``make package``
therefore runs Chalice on a staged copy of the app (``stage``) whose
requirements.txt adds ``-c constraints.txt``, then ``trim``s the zip and
``check``s every distribution in it against constraints.txt.

Trimmed: celery's command-line extras. The API imports celery only to send
tasks (``chalicelib.queue``); celery's ``celery`` command (``celery.bin``) needs
click's plugins and REPL, and the REPL prompt_toolkit and wcwidth: none is
imported when the API or the scheduled function runs
(tests/infra/test_lambda_package.py proves it by running them with the trimmed
packages made unimportable). click itself stays: celery imports it at module
level in places the producer may reach.

    python -m scripts.lambda_package stage <dir>    # the app, staged for chalice package
    python -m scripts.lambda_package trim <zip>     # trim, then check the pins
"""

from __future__ import annotations

import re
import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints.txt"
# Top-level import names, and their distributions' names as dist-info spells them.
TRIMMED = {
    "prompt_toolkit": "prompt_toolkit",
    "wcwidth": "wcwidth",
    "click_repl": "click_repl",
    "click_didyoumean": "click_didyoumean",
    "click_plugins": "click_plugins",
}
DIST_INFO = re.compile(r"^([A-Za-z0-9_.]+)-([^-/]+)\.dist-info/")


class PackageError(RuntimeError):
    """The Lambda package does not hold what was tested."""


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    """``{normalized name: version}`` of constraints.txt."""
    found = {}
    for line in CONSTRAINTS.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if match:
            found[normalize(match.group(1))] = match.group(2)
    return found


def stage(target: Path) -> Path:
    """Copy what Chalice packages into ``target``, with the pins applied to the requirements."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "app.py", target / "app.py")
    shutil.rmtree(target / "chalicelib", ignore_errors=True)
    shutil.copytree(ROOT / "chalicelib", target / "chalicelib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
    (target / ".chalice").mkdir(exist_ok=True)
    shutil.copy(ROOT / ".chalice" / "config.json", target / ".chalice" / "config.json")
    requirements = (ROOT / "requirements.txt").read_text()
    # pip applies a constraints file named in a requirements file (chalice runs pip download -r).
    (target / "requirements.txt").write_text(
        f"{requirements.rstrip()}\n# Added by make package: the versions the suite tests.\n"
        f"-c {CONSTRAINTS}\n"
    )
    return target


def distributions(names: list[str]) -> dict[str, str]:
    """``{normalized name: version}`` of the dist-info folders among zip entry ``names``."""
    found = {}
    for name in names:
        match = DIST_INFO.match(name)
        if match:
            found[normalize(match.group(1))] = match.group(2)
    return found


def trim(zip_path: Path) -> list[str]:
    """Rewrite ``zip_path`` without the ``TRIMMED`` packages; return what was removed."""
    doomed_dists = {normalize(d) for d in TRIMMED.values()}
    removed: set[str] = set()

    def drop(name: str) -> bool:
        top = name.split("/", 1)[0]
        match = DIST_INFO.match(name)
        if top in TRIMMED or top.removesuffix(".py") in TRIMMED:
            removed.add(top.removesuffix(".py"))
            return True
        return bool(match and normalize(match.group(1)) in doomed_dists)

    trimmed = zip_path.with_suffix(".trimmed.zip")
    with zipfile.ZipFile(zip_path) as source, zipfile.ZipFile(trimmed, "w") as out:
        for item in source.infolist():
            if not drop(item.filename):
                out.writestr(item, source.read(item), compress_type=item.compress_type)
    trimmed.replace(zip_path)
    return sorted(removed)


def check(zip_path: Path) -> dict[str, str]:
    """Every distribution in the zip at its pinned version, none of the trimmed left."""
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    shipped = distributions(names)
    pinned = pins()
    wrong = {
        name: f"{version} (constraints.txt: {pinned.get(name, 'not pinned')})"
        for name, version in shipped.items()
        if pinned.get(name) != version
    }
    if wrong:
        raise PackageError(f"{zip_path.name} ships versions the suite does not test: {wrong}")
    left = sorted({n.split("/", 1)[0] for n in names} & set(TRIMMED))
    if left:
        raise PackageError(f"{zip_path.name} still holds {left}")
    return shipped


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("stage", "trim"):
        print(__doc__.strip().splitlines()[-2].strip(), file=sys.stderr)
        return 2
    path = Path(argv[2])
    try:
        if argv[1] == "stage":
            stage(path)
            print(f"lambda_package: staged the app in {path}")
        else:
            removed = trim(path)
            shipped = check(path)
            print(
                f"lambda_package: removed {', '.join(removed) or 'nothing'}; "
                f"{len(shipped)} distributions, each at its constraints.txt pin "
                f"(botocore {shipped.get('botocore', '-')}), {path.stat().st_size} bytes"
            )
    except (OSError, PackageError) as exc:
        print(f"lambda_package: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
