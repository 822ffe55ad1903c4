"""The ``media-jobs`` command: submit an image and a text, follow, list, download, delete jobs.

    media-jobs submit photo.jpg "Hello from the lake" --wait
    media-jobs submit photo.jpg @caption.txt --options '{"caption": {"position": "top"}}'
    echo "Hello" | media-jobs submit photo.jpg - --wait
    media-jobs status <job_id>
    media-jobs wait <job_id>
    media-jobs list [--status completed] [--limit 20] [--all]
    media-jobs download <job_id> [--to DIR] [--name thumbnail ...]
    media-jobs delete <job_id>
    media-jobs batch photos/*.jpg --preset web --text "Summer" --wait
    media-jobs batch-status <batch_id> [--all]
    media-jobs batch-delete <batch_id>
    media-jobs preset put web '{"renditions": [{"name": "web", "width": 1600}]}'
    media-jobs preset list | get <name> | delete <name>

Files over 4 MB (or any file the API refuses with 413) go straight to S3 through
a presigned POST; smaller ones go in the request. ``--api`` defaults to
``$MEDIA_API_URL``, else the running ``make dev``'s (``.local/dev.env`` here), else
http://127.0.0.1:8000; ``--api-key`` to ``$MEDIA_API_KEY``.

Exit codes: 0 done (a job completed, or a request succeeded), 1 the job failed,
2 a usage error, an HTTP error, an unreachable API or a wait that timed out,
130 interrupted (the job goes on). Results go to standard output as JSON; the job id
as soon as it is accepted, messages and the progress bar go to standard error.
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

from media_jobs_client.api import (
    DIRECT_UPLOAD_LIMIT,
    Batch,
    Client,
    ClientError,
    Job,
)

PROG = "media-jobs"
EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


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
        help="the API's base URL (default: $MEDIA_API_URL, else .local/dev.env's, "
        "else http://127.0.0.1:8000)",
    )
    common.add_argument(
        "--api-key",
        default=argparse.SUPPRESS,
        metavar="KEY",
        help="sent as X-Api-Key (default: $MEDIA_API_KEY)",
    )
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Submit images and texts to the media-jobs API and follow the jobs.",
        parents=[common],
        epilog="Exit codes: 0 done, 1 the job failed, 2 usage or HTTP error, 130 interrupted.",
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
    submit.add_argument("--preset", metavar="NAME", help="a preset's options (see: preset)")
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

    wait = commands.add_parser(
        "wait", parents=[common], help="follow a job until it ends; print its status"
    )
    wait.add_argument("job_id", metavar="ID")
    wait.add_argument(
        "--timeout", type=float, default=600, metavar="S", help="give up waiting after S seconds"
    )

    listing = commands.add_parser("list", parents=[common], help="your jobs, newest first")
    listing.add_argument(
        "--status", choices=("pending", "processing", "completed", "failed"), default=None
    )
    listing.add_argument("--limit", type=int, default=20, metavar="N", help="jobs per page")
    listing.add_argument("--cursor", metavar="C", help="the next_cursor of a previous page")
    listing.add_argument("--all", action="store_true", help="every page, as one list")

    download = commands.add_parser(
        "download", parents=[common], help="save a completed job's outputs"
    )
    download.add_argument("job_id", metavar="ID")
    download.add_argument("--to", default=".", metavar="DIR", help="where (default: here)")
    download.add_argument(
        "--name", action="append", metavar="OUTPUT", help="only this output (repeatable)"
    )

    delete = commands.add_parser(
        "delete", parents=[common], help="delete a job, its source and outputs"
    )
    delete.add_argument("job_id", metavar="ID")

    batch = commands.add_parser(
        "batch", parents=[common], help="submit several images as one batch; print it"
    )
    batch.add_argument("photos", metavar="PHOTO", nargs="+", help="the image files")
    batch.add_argument(
        "--text", default="", metavar="TEXT", help="one text for every image (@file, -)"
    )
    batch.add_argument("--preset", metavar="NAME", help="a preset's options (see: preset)")
    batch.add_argument("--options", metavar="JSON", help="processing options (JSON or @file)")
    batch.add_argument("--callback-url", metavar="URL", help="receives one report at the end")
    batch.add_argument("--idempotency-key", metavar="K", help="a repeat gives the same batch")
    batch.add_argument(
        "--wait", action="store_true", help="follow the batch with one progress bar until it ends"
    )
    batch.add_argument(
        "--timeout", type=float, default=1800, metavar="S", help="give up waiting after S seconds"
    )

    batch_status = commands.add_parser(
        "batch-status", parents=[common], help="print a batch: status, counts, its jobs"
    )
    batch_status.add_argument("batch_id", metavar="ID")
    batch_status.add_argument("--all", action="store_true", help="every job, not one page")

    batch_delete = commands.add_parser(
        "batch-delete", parents=[common], help="delete a batch and every job of it"
    )
    batch_delete.add_argument("batch_id", metavar="ID")

    preset = commands.add_parser("preset", parents=[common], help="named options: presets")
    actions = preset.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", parents=[common], help="your presets")
    for action, helps in (("get", "print a preset"), ("delete", "delete a preset")):
        named = actions.add_parser(action, parents=[common], help=helps)
        named.add_argument("name", metavar="NAME")
    put = actions.add_parser("put", parents=[common], help="create or replace a preset")
    put.add_argument("name", metavar="NAME")
    put.add_argument("options", metavar="JSON", help="its options (JSON or @file)")
    return parser


# -- the commands ---------------------------------------------------------------------

_BAR_FORMAT = "{desc:36.36} {percentage:3.0f}%|{bar}| {elapsed}"


def wait_with_progress(client: Client, job_id: str, timeout: float, err: TextIO) -> Job:
    """Poll the job, drawing a progress bar on ``err`` (only when it is a terminal): the
    worker's message names the stage, or the output just stored."""
    # disable=None: tqdm hides itself when err is not a TTY, so pipes stay clean.
    with tqdm(total=100, file=err, disable=None, unit="%", bar_format=_BAR_FORMAT) as bar:

        def show(body: Job) -> None:
            progress = int(body.get("progress") or 0)
            bar.set_description_str(str(body.get("message") or body.get("status", "")))
            bar.update(max(0, progress - bar.n))

        return client.wait(job_id, on_update=show, timeout=timeout)


def print_json(body: Any, out: TextIO) -> None:
    json.dump(body, out, indent=2, ensure_ascii=False)
    out.write("\n")


def exit_code_for(body: Job) -> int:
    return EXIT_JOB_FAILED if body.get("status") == "failed" else EXIT_OK


class Interrupted(Exception):
    """Ctrl-C while following a job (or a batch): it goes on in the service."""

    def __init__(self, job_id: str, what: str = "job", follow: str = "wait") -> None:
        self.job_id = job_id
        self.what = what
        self.follow = follow


def follow(client: Client, job_id: str, timeout: float, out: TextIO, err: TextIO) -> int:
    try:
        final = wait_with_progress(client, job_id, timeout, err)
    except KeyboardInterrupt:
        raise Interrupted(job_id) from None
    print_json(final, out)
    error = final.get("error")
    if final.get("status") == "failed" and error:
        print(f"The job failed: {error['code']}: {error['message']}", file=err)
    return exit_code_for(final)


def wait_batch_with_progress(client: Client, batch_id: str, timeout: float, err: TextIO) -> Batch:
    """Poll the batch, one progress bar for all its jobs: how many have ended."""
    with tqdm(total=1, file=err, disable=None, unit="job", bar_format=_BAR_FORMAT) as bar:

        def show(body: Batch) -> None:
            counts = body.get("counts") or {}
            ended = sum(counts.get(k, 0) for k in ("completed", "failed", "deleted"))
            bar.total = int(body.get("total") or 1)
            bar.set_description_str(f"{ended} of {bar.total} jobs ended ({body.get('status')})")
            bar.update(max(0, ended - bar.n))

        return client.wait_batch(batch_id, on_update=show, timeout=timeout)


def run_batch(
    client: Client, args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO
) -> int:
    """``batch``, ``batch-status``, ``batch-delete``: exit 1 when a job of it failed."""
    if args.command == "batch-delete":
        client.delete_batch(args.batch_id)
        print(f"Deleted batch {args.batch_id} and its jobs.", file=err)
        return EXIT_OK
    if args.command == "batch-status":
        body = client.batch(args.batch_id)
        if args.all:
            body = {**body, "jobs": list(client.batch_jobs(args.batch_id)), "next_cursor": None}
        print_json(body, out)
        return EXIT_JOB_FAILED if body["status"] in ("failed", "partial") else EXIT_OK

    def uploaded(done: int, total: int) -> None:
        print(f"Uploaded {done} of {total} straight to storage.", file=err, flush=True)

    accepted = client.submit_batch(
        [check_image(photo) for photo in args.photos],
        read_text(args.text, stdin),
        options=read_options(args.options),
        preset=args.preset,
        callback_url=args.callback_url,
        idempotency_key=args.idempotency_key,
        on_upload=uploaded,
    )
    print(
        f"Batch {accepted['batch_id']} of {len(accepted['jobs'])} jobs accepted.",
        file=err,
        flush=True,
    )
    if not args.wait:
        print_json(accepted, out)
        return EXIT_OK
    try:
        final = wait_batch_with_progress(client, accepted["batch_id"], args.timeout, err)
    except KeyboardInterrupt:
        raise Interrupted(accepted["batch_id"], "batch", "batch-status") from None
    body = {**final, "jobs": list(client.batch_jobs(accepted["batch_id"])), "next_cursor": None}
    print_json(body, out)
    if final["status"] in ("failed", "partial"):
        print(f"{final['counts'].get('failed', 0)} jobs of the batch failed.", file=err)
        return EXIT_JOB_FAILED
    return EXIT_OK


def run_preset(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``preset list|get|put|delete``."""
    if args.action == "list":
        print_json({"presets": client.presets()}, out)
    elif args.action == "get":
        print_json(client.preset(args.name), out)
    elif args.action == "put":
        options = read_options(args.options)
        if not isinstance(options, dict):
            raise UsageError("a preset's options are a JSON object")
        print_json(client.put_preset(args.name, options), out)
    else:
        client.delete_preset(args.name)
        print(f"Deleted preset {args.name}.", file=err)
    return EXIT_OK


def run(args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    client = Client(getattr(args, "api", None), api_key=getattr(args, "api_key", None))

    if args.command in ("batch", "batch-status", "batch-delete"):
        return run_batch(client, args, stdin, out, err)
    if args.command == "preset":
        return run_preset(client, args, out, err)

    if args.command == "status":
        body = client.status(args.job_id)
        print_json(body, out)
        return exit_code_for(body)
    if args.command == "wait":
        return follow(client, args.job_id, args.timeout, out, err)
    if args.command == "list":
        if args.all:
            print_json({"jobs": list(client.iter_jobs(args.status, args.limit))}, out)
        else:
            print_json(client.list(args.status, args.limit, args.cursor), out)
        return EXIT_OK
    if args.command == "download":
        for path in client.download(args.job_id, args.to, args.name):
            print(path, file=out)
        return EXIT_OK
    if args.command == "delete":
        client.delete(args.job_id)
        print(f"Deleted job {args.job_id}.", file=err)
        return EXIT_OK

    def presigned(size: int, refused: str | None) -> None:
        if refused:
            print(f"The API refused the file in the request ({refused}).", file=err)
        print(
            f"Uploading {size / 1e6:.1f} MB straight to storage (presigned POST)…",
            file=err,
            flush=True,
        )

    accepted = client.submit(
        check_image(args.photo),
        read_text(args.text, stdin),
        options=read_options(args.options),
        callback_url=args.callback_url,
        idempotency_key=args.idempotency_key,
        upload=args.upload,
        on_presigned=presigned,
        preset=args.preset,
    )
    print(f"Job {accepted['job_id']} accepted.", file=err, flush=True)
    if not args.wait:
        print_json(accepted, out)
        return EXIT_OK
    return follow(client, accepted["job_id"], args.timeout, out, err)


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
    except Interrupted as exc:
        print(
            f"\nInterrupted; {exc.what} {exc.job_id} goes on. Follow it again with: "
            f"{PROG} {exc.follow} {exc.job_id}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader stopped early (`| head`): end quietly, the final flush included.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
