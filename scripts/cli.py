"""The media-jobs command line: submit an image and a text, follow a job, delete it.

    python -m scripts.cli submit photo.jpg "Hello from the lake" --wait
    python -m scripts.cli submit photo.jpg @caption.txt --options '{"caption": {"position": "top"}}'
    echo "Hello" | python -m scripts.cli submit photo.jpg - --wait
    python -m scripts.cli status <job_id>
    python -m scripts.cli delete <job_id>

Files over 4 MB (or any file the API refuses with 413) go straight to S3 through
a presigned POST; smaller ones go in the request. ``--api`` defaults to
``$MEDIA_API_URL`` or http://127.0.0.1:8000, ``--api-key`` to ``$MEDIA_API_KEY``.

Exit codes: 0 done (a job completed, or a request succeeded), 1 the job failed,
2 a usage error, an HTTP error, an unreachable API or a wait that timed out.
Results go to standard output as JSON; messages and the progress bar to standard error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from scripts.api_client import (
    DIRECT_UPLOAD_LIMIT,
    ApiError,
    ClientError,
    MediaJobsClient,
    Submission,
)

DEFAULT_API_URL = "http://127.0.0.1:8000"

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_ERROR = 2


class UsageError(Exception):
    """A problem with the command line itself (a missing file, bad JSON)."""


# -- reading the arguments ------------------------------------------------------------


def read_text(argument: str, stdin: TextIO) -> str:
    """TEXT as given, ``-`` for standard input, ``@path`` for a file, ``@@…`` for a literal @."""
    if argument == "-":
        return stdin.read()
    if argument.startswith("@@"):
        return argument[1:]
    if argument.startswith("@"):
        path = Path(argument[1:])
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"no such text file: {path}") from None
        except UnicodeDecodeError:
            raise UsageError(f"the text file is not UTF-8: {path}") from None
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    return argument


def read_options(argument: str | None) -> Any:
    """``--options`` as JSON text or ``@file.json``; checked here so typos fail before upload."""
    if argument is None:
        return None
    source = argument
    if argument.startswith("@"):
        try:
            source = Path(argument[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read options file {argument[1:]}: {exc.strerror}") from None
    try:
        return json.loads(source)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--options is not valid JSON: {exc}") from None


def check_image(argument: str) -> Path:
    path = Path(argument)
    if not path.exists():
        raise UsageError(f"no such file: {path}")
    if not path.is_file():
        raise UsageError(f"not a file: {path}")
    if path.stat().st_size == 0:
        raise UsageError(f"the file is empty: {path}")
    return path


def build_parser() -> argparse.ArgumentParser:
    # --api and --api-key are accepted before or after the subcommand; SUPPRESS keeps
    # a subparser's absent option from overwriting one given before the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api",
        default=argparse.SUPPRESS,
        metavar="URL",
        help=f"the API's base URL (default: $MEDIA_API_URL or {DEFAULT_API_URL})",
    )
    common.add_argument(
        "--api-key",
        default=argparse.SUPPRESS,
        metavar="KEY",
        help="sent as X-Api-Key (default: $MEDIA_API_KEY)",
    )
    parser = argparse.ArgumentParser(
        prog="python -m scripts.cli",
        description="Submit images and texts to the media-jobs API and follow the jobs.",
        parents=[common],
        epilog="Exit codes: 0 done, 1 the job failed, 2 usage or HTTP error.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    submit = commands.add_parser(
        "submit", parents=[common], help="submit an image and a text; print the job"
    )
    submit.add_argument("photo", metavar="PHOTO", help="the image file")
    submit.add_argument(
        "text", metavar="TEXT", help="the text; @file.txt reads a file, - reads standard input"
    )
    submit.add_argument("--options", metavar="JSON", help="processing options (JSON or @file)")
    submit.add_argument("--callback-url", metavar="URL", help="receives the final status")
    submit.add_argument("--idempotency-key", metavar="K", help="a repeat gives the same job")
    submit.add_argument(
        "--upload",
        choices=("auto", "direct", "presigned"),
        default="auto",
        help=f"auto (default): presigned S3 POST for files over {DIRECT_UPLOAD_LIMIT} bytes"
        " or when the API answers 413",
    )
    submit.add_argument(
        "--wait", action="store_true", help="follow the job with a progress bar until it ends"
    )
    submit.add_argument(
        "--timeout", type=float, default=600, metavar="S", help="give up waiting after S seconds"
    )

    status = commands.add_parser("status", parents=[common], help="print a job's status")
    status.add_argument("job_id", metavar="ID")

    delete = commands.add_parser(
        "delete", parents=[common], help="delete a job, its source and outputs"
    )
    delete.add_argument("job_id", metavar="ID")
    return parser


# -- the commands ---------------------------------------------------------------------


def submit_job(
    client: MediaJobsClient, submission: Submission, upload: str, err: TextIO
) -> dict[str, Any]:
    """Submit by the right path: direct for small files, presigned for large or refused ones."""
    size = submission.image.stat().st_size
    presigned = upload == "presigned" or (upload == "auto" and size > DIRECT_UPLOAD_LIMIT)
    if not presigned:
        try:
            return client.submit_direct(submission)
        except ApiError as exc:
            # The server's MAX_UPLOAD_BYTES (or API Gateway) may be lower than our guess.
            if exc.status != 413 or exc.code == "text_too_long" or upload == "direct":
                raise
            print(f"The API refused the file in the request ({exc.code}).", file=err)
    print(
        f"Uploading {size / 1e6:.1f} MB straight to storage (presigned POST)…",
        file=err,
        flush=True,
    )
    return client.submit_presigned(submission)


def wait_with_progress(
    client: MediaJobsClient, job_id: str, timeout: float, err: TextIO
) -> dict[str, Any]:
    """Poll the job, drawing a progress bar on ``err`` (only when it is a terminal)."""
    # disable=None: tqdm hides itself when err is not a TTY, so pipes stay clean.
    with tqdm(total=100, file=err, disable=None, unit="%", bar_format=_BAR_FORMAT) as bar:

        def show(body: dict[str, Any]) -> None:
            progress = int(body.get("progress") or 0)
            bar.set_description_str(str(body.get("message") or body.get("status", "")))
            bar.update(max(0, progress - bar.n))

        return client.wait(job_id, on_update=show, timeout=timeout)


_BAR_FORMAT = "{desc:32.32} {percentage:3.0f}%|{bar}| {elapsed}"


def print_json(body: Any, out: TextIO) -> None:
    json.dump(body, out, indent=2, ensure_ascii=False)
    out.write("\n")


def exit_code_for(body: dict[str, Any]) -> int:
    return EXIT_JOB_FAILED if body.get("status") == "failed" else EXIT_OK


def run(args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    api = getattr(args, "api", None) or os.environ.get("MEDIA_API_URL") or DEFAULT_API_URL
    api_key = getattr(args, "api_key", None) or os.environ.get("MEDIA_API_KEY") or None
    client = MediaJobsClient(api, api_key=api_key)

    if args.command == "status":
        body = client.status(args.job_id)
        print_json(body, out)
        return exit_code_for(body)

    if args.command == "delete":
        client.delete(args.job_id)
        print(f"Deleted job {args.job_id}.", file=err)
        return EXIT_OK

    submission = Submission(
        image=check_image(args.photo),
        text=read_text(args.text, stdin),
        options=read_options(args.options),
        callback_url=args.callback_url,
        idempotency_key=args.idempotency_key,
    )
    accepted = submit_job(client, submission, args.upload, err)
    if not args.wait:
        print_json(accepted, out)
        return EXIT_OK
    final = wait_with_progress(client, accepted["job_id"], args.timeout, err)
    print_json(final, out)
    if final.get("status") == "failed" and final.get("error"):
        error = final["error"]
        print(f"The job failed: {error.get('code')}: {error.get('message')}", file=err)
    return exit_code_for(final)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 with argparse's message on bad usage
    try:
        return run(args, sys.stdin, sys.stdout, sys.stderr)
    except UsageError as exc:
        parser.exit(EXIT_ERROR, f"{parser.prog}: error: {exc}\n")
    except (ClientError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("Interrupted; the job goes on (see `status`).", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
