"""Each corpus file and hostile image through ``process_image``: one engine's outcomes, as JSON.

Runs wherever the worker's code runs, with nothing beyond the worker's own
libraries: in the development venv, and inside the worker image (the compose test
``test_engine_parity.py`` mounts ``tests/`` into it), so that the outcomes of Pillow
and Pillow-SIMD (each SIMD build) can be compared file by file:

    python -m tests.compose.engine_outcomes > outcomes.jsonl

The first line names the engine. Each other line: ``{"set", "name", "outcome",
"outputs"}``, where ``outcome`` is ``completed`` or ``failed <code>`` and ``outputs``
the rendered outputs as ``name WxH format``. With ``--save DIR`` the outputs of the
peer corpus's photos are written there too (for a quality comparison).
"""

from __future__ import annotations

import argparse
import csv
import email.parser
import email.policy
import json
import sys
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from chalicelib.core.errors import ServiceError
from chalicelib.core.settings import Settings
from worker.imaging import engine
from worker.imaging.process import ImageLimits, process_image

TESTS = Path(__file__).resolve().parent.parent
CORPUS = TESTS / "corpus"
_DEFAULTS = Settings()
LIMITS = ImageLimits(
    max_pixels=_DEFAULTS.max_image_pixels,
    max_dimension=_DEFAULTS.max_image_dimension,
    max_frames=_DEFAULTS.max_image_frames,
    max_decode_bytes=_DEFAULTS.max_decode_bytes,
)


def corpus_files() -> list[str]:
    """The peer corpus's files, as ``expected.csv`` names them."""
    with (CORPUS / "expected.csv").open(newline="") as table:
        return [row["file"] for row in csv.DictReader(table)]


def multipart_fields(body: bytes, content_type: str | None) -> dict[str, bytes] | None:
    """The named parts of a multipart body as the standard library reads them; None when
    it is no multipart body (the API refuses those before any image code runs)."""
    if not content_type or not content_type.startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return None
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes) and name not in fields:
            fields[name] = payload
    return fields


def hostile_images() -> list[tuple[str, bytes, str, Any]]:
    """(name, image bytes, text, options) of each hostile case that carries an image part."""
    from tests.hostile.corpus import build_corpus

    found = []
    for case in build_corpus():
        # Cases only the API answers (a body over the limit, a bad key) never reach a worker.
        reaches_worker = any(e == "completed" or e.startswith("failed") for e in case.expect)
        if case.path != "/api/process" or not reaches_worker:
            continue
        fields = multipart_fields(case.body, case.content_type)
        if not fields or "image" not in fields:
            continue
        text = fields.get("text", b"").decode("utf-8", "replace")
        options: Any = None
        if "options" in fields:
            try:
                options = json.loads(fields["options"])
            except (ValueError, RecursionError):
                continue  # the API answers 400 before a worker sees it
        found.append((case.name, fields["image"], text, options))
    return found


def outcome(data: bytes, text: str, options: Any, save: Path | None) -> dict[str, Any]:
    outputs: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = process_image(data, text, options, LIMITS, lambda _name: nullcontext())
    except ServiceError as error:
        return {"outcome": f"failed {error.code}", "outputs": outputs}
    for output in report.outputs:
        outputs.append(f"{output.name} {output.width}x{output.height} {output.format}")
        if save is not None:
            save.parent.mkdir(parents=True, exist_ok=True)
            (save.parent / f"{save.name}.{output.name}.{output.format}").write_bytes(output.data)
    return {"outcome": "completed", "outputs": outputs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", type=Path, help="write the corpus photos' outputs here")
    args = parser.parse_args(argv)
    out = sys.stdout
    out.write(json.dumps({"engine": engine.current().describe()}) + "\n")
    for name in corpus_files():
        save = args.save / name.replace("/", "__") if args.save else None
        line = outcome((CORPUS / name).read_bytes(), "", None, save)
        out.write(json.dumps({"set": "corpus", "name": name, **line}) + "\n")
    for name, data, text, options in hostile_images():
        line = outcome(data, text, options, None)
        out.write(json.dumps({"set": "hostile", "name": name, **line}) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
