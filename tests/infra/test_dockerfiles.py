"""The worker image: multi-stage, pinned, non-root, exec-form CMD on the real Celery app."""

from __future__ import annotations

import ast
import json
import re
import shlex
from pathlib import Path

import pytest

from tests.infra.terraform import INFRA, REPO

WORKER_DOCKERFILE = REPO / "worker" / "Dockerfile"
API_DOCKERFILE = REPO / "docker" / "api.Dockerfile"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined: list[str] = []
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        joined.append(current + line)
        current = ""
    result = []
    for line in joined:
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def final_stage(path: Path) -> list[tuple[str, str]]:
    steps = instructions(path)
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), arguments
    return value


def the_one(stage: list[tuple[str, str]], keyword: str) -> str:
    found = [args for kw, args in stage if kw == keyword]
    assert found, f"no {keyword} in the final stage"
    return found[-1]


def celery_app_target(command: list[str]) -> str:
    """The -A/--app value of the celery command inside an exec-form CMD."""
    words = command
    if command[:2] in (["sh", "-c"], ["/bin/sh", "-c"]):
        assert command[2].startswith("exec "), "sh -c must exec celery to pass it SIGTERM"
        words = shlex.split(command[2])
    for flag in ("-A", "--app"):
        if flag in words:
            return words[words.index(flag) + 1]
    for word in words:
        if word.startswith("--app="):
            return word.split("=", 1)[1]
    raise AssertionError(f"no celery -A in {command}")


def test_worker_image_is_multi_stage_and_pinned() -> None:
    bases = [args for kw, args in instructions(WORKER_DOCKERFILE) if kw == "FROM"]
    assert len(bases) >= 2, "the worker image should build in one stage and run in another"
    text = WORKER_DOCKERFILE.read_text()
    default = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert default, "the base image is an ARG with a pinned default"
    image = default.group(1)
    assert "@sha256:" in image or re.search(r":3\.11\.\d+-slim", image), image


@pytest.mark.parametrize("dockerfile", [WORKER_DOCKERFILE, API_DOCKERFILE], ids=lambda p: p.name)
def test_final_stage_runs_as_non_root(dockerfile: Path) -> None:
    user = the_one(final_stage(dockerfile), "USER").split(":")[0]
    assert user not in {"root", "0", ""}, f"{dockerfile.name} runs as {user}"


def test_worker_cmd_runs_the_real_celery_app() -> None:
    command = exec_form(the_one(final_stage(WORKER_DOCKERFILE), "CMD"))
    target = celery_app_target(command)
    module, _, attribute = target.partition(":")
    assert attribute, f"name the app object explicitly: {target}"
    source = REPO / (module.replace(".", "/") + ".py")
    assert source.exists(), f"{target} names {source.relative_to(REPO)}, which does not exist"
    tree = ast.parse(source.read_text())
    assigned = {
        node.id
        for stmt in tree.body
        if isinstance(stmt, ast.Assign | ast.AnnAssign)
        for node in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
        if isinstance(node, ast.Name)
    }
    assert attribute in assigned, f"{source.name} defines no top-level {attribute!r}"
    script = " ".join(command)
    assert "worker" in script.split() or " worker " in script
    assert "WORKER_COUNT" in script and "--concurrency" in script


def test_worker_has_a_healthcheck() -> None:
    check = the_one(final_stage(WORKER_DOCKERFILE), "HEALTHCHECK")
    assert "CMD" in check and "NONE" not in check.split()


def test_worker_copies_only_chalicelib_and_worker() -> None:
    copies = [args for kw, args in final_stage(WORKER_DOCKERFILE) if kw == "COPY"]
    sources = set()
    for args in copies:
        words = [w for w in args.split() if not w.startswith("--")]
        if "--from=build" in args:
            continue
        sources |= {w.rstrip("/") for w in words[:-1]}
    assert sources == {"chalicelib", "worker"}, sources


def test_task_definition_uses_the_images_user_and_cmd() -> None:
    ecs = (INFRA / "ecs.tf").read_text()
    user = the_one(final_stage(WORKER_DOCKERFILE), "USER")
    assert f'user                   = "{user}"' in ecs or f'user = "{user}"' in ecs
    # Container-level keys sit at six spaces inside container_definitions; a health
    # check's own `command` is deeper, or in a local of its own.
    definitions = re.findall(
        r"container_definitions = jsonencode\(\[\n(.*?)\n  \]\)", ecs, re.DOTALL
    )
    assert len(definitions) == 2
    for definition in definitions:
        assert not re.search(r"^ {6}(command|entryPoint)\s*=", definition, re.MULTILINE), (
            "the container should run the image's CMD"
        )
    assert "stopTimeout = 120" in ecs


def test_dockerignore_keeps_the_context_small() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "tests", "infra"):
        assert entry in ignored, f".dockerignore lacks {entry}"
