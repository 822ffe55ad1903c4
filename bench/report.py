"""Turns the benchmark results into Markdown tables (ratios included) and a chart."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

MIB = 2**20


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _x(a: float | None, b: float | None) -> str:
    return "n/a" if not a or not b else f"{a / b:.2f}x"


def _best_ms(row: dict[str, Any], impl: str) -> float | None:
    # The best of the repeated runs: on a shared machine the other runs carry other
    # processes' bursts, and the best is the closest to what the code itself costs.
    # (The medians are in the JSON beside it.)
    value = row.get(impl) if isinstance(row, dict) else None
    return None if not value else float(value["min_ms"])


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def markdown(results: dict[str, Any], info: dict[str, Any], command: str) -> str:
    lines: list[str] = []
    add = lines.append
    busy = {name: r.get("_busy_before") for name, r in results.items() if isinstance(r, dict)}
    add(
        f"Measured on {info['nproc']} x {info['cpu']}, {info['ram_bytes'] / 2**30:.0f} GiB RAM; "
        f"Python {info['python']}, Pillow {info['pillow']}, libvips {info['libvips']} "
        f"(pyvips-binary). Load average before/after: "
        f"{info['load_before'][0]:.2f} / {info['load_after'][0]:.2f}. "
        f"Command: `{command}` (what `make bench` runs), {info['seconds']} s. "
        "Cores busy with other work just before each section: "
        + ", ".join(f"{k} {v}" for k, v in busy.items() if v is not None)
        + " (the machine is shared; each section first waits up to 2 min for a quiet moment)."
    )
    add("")
    targets: list[tuple[str, str, bool]] = []

    pipeline = results.get("pipeline")
    if pipeline:
        add("### Pipeline per image (best of 3-10 runs, each image and method in a fresh process)")
        add("")
        add(
            "| image | service | + caption | pyvips | pyvips 1 thread | naive Pillow "
            "| service / pyvips | naive / service |"
        )
        add("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for row in pipeline.values():
            if not isinstance(row, dict):
                continue
            service = _best_ms(row, "service")
            vips = _best_ms(row, "vips")
            naive = _best_ms(row, "naive")
            add(
                f"| {row['label']} ({row['bytes'] / 1e6:.1f} MB) | {_ms(service)} "
                f"| {_ms(_best_ms(row, 'service_caption'))} | {_ms(vips)} "
                f"| {_ms(_best_ms(row, 'vips_1thread'))} | {_ms(naive)} "
                f"| {_x(service, vips)} | {_x(naive, service)} faster |"
            )
        row = pipeline.get("jpeg12")
        if row:
            service, vips, naive = (_best_ms(row, k) for k in ("service", "vips", "naive"))
            if service and vips and naive:
                targets.append(
                    ("12 MP JPEG within 1.5x of pyvips", _x(service, vips), service <= 1.5 * vips)
                )
                targets.append(
                    (
                        "12 MP JPEG at least 4x faster than naive Pillow",
                        f"{naive / service:.2f}x faster",
                        naive >= 4 * service,
                    )
                )
                targets.append(
                    (
                        "12 MP JPEG at most 0.8x pyvips (second round)",
                        _x(service, vips),
                        service <= 0.8 * vips,
                    )
                )
        for key, name in (("png2", "2 MP PNG with alpha"), ("gif", "animated GIF")):
            row = pipeline.get(key)
            service, vips = (_best_ms(row, k) for k in ("service", "vips")) if row else (None, None)
            if service and vips:
                targets.append(
                    (
                        f"{name} at or under pyvips (second round)",
                        _x(service, vips),
                        service <= vips,
                    )
                )
        add("")
        add(
            "Service: `process_image`, default options, no text: probe and EXIF facts, "
            "decode, thumbnail 512 + preview 1280 JPEG q85, dominant colours and phash. "
            "\\+ caption: the same with a text, so a third, captioned 1280 px output. "
            "pyvips: `thumbnail_buffer` to 1280 (shrink-on-load), the 512 from it, "
            "`jpegsave` Q=85, no caption and no facts; libvips threads on both cores "
            "(1 thread: `VIPS_CONCURRENCY=1`). Naive: full decode, one LANCZOS resize "
            "per rendition from the full image, JPEG q85. n/a: pyvips-binary's libheif "
            "has no HEVC decoder."
        )
        add("")

    memory = results.get("memory")
    e2e = results.get("e2e")
    if memory:
        add("### Peak memory (RSS high-water mark of a fresh process)")
        add("")
        add(
            "| image | worker peak | worker idle | image cost | pyvips peak | pyvips image cost "
            "| worker / pyvips |"
        )
        add("| --- | --- | --- | --- | --- | --- | --- |")
        for key, row in memory.items():
            if not isinstance(row, dict):
                continue
            s, v = row["service"], row["vips"]
            add(
                f"| {key} | {s['peak_bytes'] / MIB:.0f} MiB | {s['idle_bytes'] / MIB:.0f} MiB "
                f"| +{s['image_bytes'] / MIB:.0f} MiB | {v['peak_bytes'] / MIB:.0f} MiB "
                f"| +{v['image_bytes'] / MIB:.0f} MiB | {_x(s['peak_bytes'], v['peak_bytes'])} |"
            )
        add("")
        add(
            "Worker: a process importing `worker.tasks` and running its per-process warm-up "
            "(text models), then one `process_image`; idle is its high-water mark before the "
            "image. pyvips: a process importing pyvips only."
        )
        if e2e and "throughput_1" in e2e:
            pool = e2e["throughput_1"]
            add(
                f"In the live stack, a Celery pool process running 12 MP jobs (with caption, "
                f"S3 and Redis clients) peaked at {pool['peak_pool_rss_bytes'] / MIB:.0f} MiB "
                f"RSS (PSS {pool['pool_pss_bytes'] / MIB:.0f} MiB)."
                if pool.get("pool_pss_bytes")
                else ""
            )
        row = memory.get("jpeg12")
        if row:
            peak = row["service"]["peak_bytes"]
            targets.append(
                (
                    "worker peak for the 12 MP JPEG under 200 MB",
                    f"{peak / 1e6:.0f} MB",
                    peak < 200e6,
                )
            )
            targets.append(
                (
                    "worker peak for the 12 MP JPEG at most 120 MiB (second round)",
                    f"{peak / MIB:.0f} MiB",
                    peak <= 120 * MIB,
                )
            )
        add("")

    if e2e:
        noop = e2e["noop"]
        add("### End to end (local stack: moto S3, redis-server, Celery prefork workers)")
        add("")
        add("| measure | p50 | p95 | against bare Celery no-op round trip (p50) |")
        add("| --- | --- | --- | --- |")
        add(
            f"| bare Celery no-op round trip | {_ms(noop['p50_ms'])} | {_ms(noop['p95_ms'])} | 1x |"
        )
        for key, label in (
            ("latency_tiny", "tiny job (640x480)"),
            ("latency_12mp", "12 MP job with a text (so a captioned output too)"),
        ):
            row = e2e[key]
            add(
                f"| submit-to-completed, {label} | {_ms(row['p50_ms'])} | {_ms(row['p95_ms'])} "
                f"| {_x(row['p50_ms'], noop['p50_ms'])} |"
            )
        add("")
        if "vips_12mp" in e2e:
            _against_vips(e2e, add, targets)
        one, two = e2e["throughput_1"], e2e["throughput_2"]
        scaling = two["jobs_per_s"] / one["jobs_per_s"]
        add("| throughput (12 MP jobs) | jobs/s | against one worker | against no-op tasks/s |")
        add("| --- | --- | --- | --- |")
        add(f"| bare Celery no-op, 1 worker | {noop['tasks_per_s']:.0f} | | 1x |")
        add(
            f"| 1 worker | {one['jobs_per_s']:.2f} | 1x "
            f"| {_x(one['jobs_per_s'], noop['tasks_per_s'])} |"
        )
        add(
            f"| 2 workers | {two['jobs_per_s']:.2f} | {scaling:.2f}x "
            f"| {_x(two['jobs_per_s'], noop['tasks_per_s'])} |"
        )
        add("")
        if "cpu_seconds_per_job" in one:
            add("CPU seconds per 12 MP job, by process (one worker / two workers):")
            add("")
            add("| process | 1 worker | 2 workers |")
            add("| --- | --- | --- |")
            for name in sorted(set(one["cpu_seconds_per_job"]) | set(two["cpu_seconds_per_job"])):
                add(
                    f"| {name} | {one['cpu_seconds_per_job'].get(name, 0) * 1000:.0f} ms "
                    f"| {two['cpu_seconds_per_job'].get(name, 0) * 1000:.0f} ms |"
                )
            add("")
            stages = ", ".join(f"{k} {v:.0f}" for k, v in one["stage_ms"].items())
            add(
                f"Median stage times of a 12 MP job in the worker (ms): {stages}. Each output "
                "uploads as soon as it is encoded, so `upload` is only the wait for the last "
                "uploads and result.json after the encoding."
            )
            add("")
        targets.append(("two workers at least 1.8x one", f"{scaling:.2f}x", scaling >= 1.8))

    api = results.get("api")
    if api:
        h, f = api["handler"], api["floor"]
        add("### API: submit handler in-process against its own I/O floor")
        add("")
        add("| measure | p50 | p99 | n |")
        add("| --- | --- | --- | --- |")
        add(
            f"| I/O floor: S3 put + Redis writes, direct | {_ms(f['p50_ms'])} | {_ms(f['p99_ms'])} "
            f"| {f['n']} |"
        )
        add(
            f"| `JobService.validate` + `submit` | {_ms(h['p50_ms'])} | {_ms(h['p99_ms'])} "
            f"| {h['n']} |"
        )
        add(f"| ratio | {_x(h['p50_ms'], f['p50_ms'])} | {_x(h['p99_ms'], f['p99_ms'])} | |")
        add("")
        targets.append(
            (
                "submit handler within 1.3x of its I/O floor (p50 / p99)",
                f"{_x(h['p50_ms'], f['p50_ms'])} / {_x(h['p99_ms'], f['p99_ms'])}",
                h["p50_ms"] <= 1.3 * f["p50_ms"] and h["p99_ms"] <= 1.3 * f["p99_ms"],
            )
        )

    cold = results.get("coldstart")
    if cold:
        a, b = cold["import_app"]["median_ms"], cold["import_boto3"]["median_ms"]
        add("### Cold start")
        add("")
        add("| measure | median | against `import boto3` |")
        add("| --- | --- | --- |")
        add(f"| `import boto3` (fresh interpreter) | {_ms(b)} | 1x |")
        add(f"| `import app` (fresh interpreter) | {_ms(a)} | {_x(a, b)} |")
        package = cold["package"]
        if "zip_bytes" in package:
            largest = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in package["largest"])
            add("")
            add(
                f"Lambda package (`{package['command']}`): deployment.zip "
                f"{package['zip_bytes'] / 1e6:.1f} MB ({package['unzipped_bytes'] / 1e6:.0f} MB "
                f"unzipped; Lambda's limit is 50 MB zipped, 250 MB unzipped). Largest "
                f"(compressed): {largest}."
            )
        else:
            add(f"\n`chalice package` failed: {package['error']}")
        add("")
        targets.append(("`import app` within 1.5x of `import boto3`", _x(a, b), a <= 1.5 * b))

    engine = results.get("engine")
    if engine:
        _engine(engine, add, targets)

    job_cpu = results.get("job_cpu")
    if job_cpu:
        _job_cpu(job_cpu, add, targets)

    codecs = results.get("encoders")
    if codecs:
        _codecs(codecs, add, targets)

    smart = results.get("smartcrop")
    if smart:
        _smartcrop(smart, add, targets)

    text = results.get("text")
    if text:
        _text(text, add, targets)

    png = results.get("png_decode")
    if png:
        _png_decode(png, add, targets)

    add("### Targets")
    add("")
    add(
        f"Rows that name no engine ran in the development venv (Pillow {info['pillow']}); the"
        " worker image's engine (docs/ENGINE.md) is named in the rows measured on it."
    )
    add("")
    add("| target | this run | |")
    add("| --- | --- | --- |")
    for name, figure, ok in targets:
        add(f"| {name} | {figure} | {_verdict(ok)} |")
    return "\n".join(lines)


def _png_decode(
    png: dict[str, Any],
    add: Callable[[str], None],
    targets: list[tuple[str, str, bool]],
) -> None:
    """``bench.png_decode``: CPU per image against pyvips, and a 100 MP PNG's memory."""
    add("### PNG: libspng behind the strict pre-check, and large PNGs in bands (CPU time)")
    add("")
    add(
        f"Interleaved rounds ({png['rounds']}), one of each method per round; CPU time of "
        "every thread of the process, best and median, beside the best wall time. "
        "`.venv/bin/python -m bench.png_decode`."
    )
    add("")
    add("| input | method | CPU best | CPU median | wall best |")
    add("| --- | --- | ---: | ---: | ---: |")
    for key, entry in png["decode"].items():
        for name, f in entry["methods"].items():
            add(
                f"| {key} ({entry['bytes'] / 1e6:.1f} MB) | {name} | {_ms(f['cpu_best'])} | "
                f"{_ms(f['cpu_median'])} | {_ms(f['wall_best'])} |"
            )
    add("")
    rend = png["renditions"]
    add(f"{rend['image']}, the two default renditions (JPEG q85) and the facts:")
    add("")
    add("| method | CPU best | CPU median | wall best | CPU / pyvips |")
    add("| --- | ---: | ---: | ---: | ---: |")
    for name, f in rend["methods"].items():
        add(
            f"| {name} | {_ms(f['cpu_best'])} | {_ms(f['cpu_median'])} | "
            f"{_ms(f['wall_best'])} | {f['cpu_vs_pyvips']:.2f}x |"
        )
    add("")
    cost = png.get("cost_ms_per_mp", {})
    if cost:
        add(
            "PNG decode, CPU ms per megapixel (the cost model's weight is set from it): "
            + ", ".join(f"{k} {v:.1f}" for k, v in cost.items())
            + "."
        )
        add("")
    large = png["large"]
    add("A 100 MP RGBA PNG (10000x10000), the default renditions, a fresh process each:")
    add("")
    add("| method | peak RSS | idle | the image | CPU | wall | PSNR of the outputs vs whole |")
    add("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    names = {"banded": "worker, in bands (now)", "whole": "worker, whole (before)"}
    for name, f in large.items():
        psnr = ", ".join(f"{v:.1f} dB" for v in f.get("psnr_vs_whole", []))
        add(
            f"| {names.get(name, name)} | {f['peak'] / 2**20:.0f} MiB | {f['idle'] / 2**20:.0f} MiB"
            f" | +{(f['peak'] - f['idle']) / 2**20:.0f} MiB | {_ms(f['cpu_ms'])} | "
            f"{_ms(f['wall_ms'])} | {psnr} |"
        )
    add("")
    ratio = rend["methods"]["service (libspng)"]["cpu_vs_pyvips"]
    targets.append(
        (
            "2 MP PNG with alpha at most 1.0x pyvips, CPU (third round)",
            f"{ratio:.2f}x",
            ratio <= 1.0,
        )
    )
    ours = large["banded"]["peak"] - large["banded"]["idle"]
    theirs = large["pyvips"]["peak"] - large["pyvips"]["idle"]
    targets.append(
        (
            "100 MP RGBA PNG costs the worker no more memory than pyvips",
            f"+{ours / 2**20:.0f} MiB against +{theirs / 2**20:.0f} MiB",
            ours <= theirs,
        )
    )


def _percent(share: float) -> str:
    return f"{share:.1%}"


def _text(
    text: dict[str, Any], add: Callable[[str], None], targets: list[tuple[str, str, bool]]
) -> None:
    """The ``bench/text.py`` section: language by length beside the alternatives,
    sentiment against human ratings, time a text and a worker process's memory."""
    add("### Text analysis (`bench/text.py`; how the sets were made: its docstring)")
    add("")
    language = text["language"]
    kinds = ("single words", "word pairs", "sentences")
    add(
        f"Language on lingua's test data ({language['lines_per_language']} lines a language), "
        f"over the {language['languages_answered']} of its {language['languages']} languages "
        "the service answers; right / wrong / null:"
    )
    add("")
    add("| identifier | single words | word pairs | sentences | CPU ms a text |")
    add("| --- | --- | --- | --- | --- |")
    for name, rows in language.items():
        if not isinstance(rows, dict) or "sentences" not in rows:
            continue
        cells = " | ".join(
            f"{_percent(rows[k]['right'])} / {_percent(rows[k]['wrong'])} / "
            f"{_percent(rows[k]['null'])}"
            for k in kinds
        )
        add(f"| {name} | {cells} | {rows['cpu_ms_a_text']} |")
    add("")
    words = language.get("debian word lists", {})
    if words.get("word_lists"):
        add(f"Debian word lists ({words['word_lists']}), the service:")
        add("")
        for kind in ("single words", "word pairs"):
            row = words[kind]
            add(
                f"- {kind} ({row['n']}): {_percent(row['right'])} right, "
                f"{_percent(row['wrong'])} wrong, {_percent(row['null'])} null"
            )
        add("")
    sentiment = text["sentiment"]
    tweets = sentiment["vader_tweets"]
    add(
        f"Sentiment on VADER's {tweets['n']} tweets rated by people: Pearson's r "
        f"{tweets['service_r']} (no sentiment for {tweets['service_withheld']}, counted as 0), "
        f"plain VADER {tweets['plain_vader_r']}. On {sentiment['n']} short texts with a "
        f"reader's sign: label right {_percent(sentiment['service_label_right'])} (withheld "
        f"{_percent(sentiment['service_withheld'])}), plain VADER "
        f"{_percent(sentiment['plain_vader_label_right'])}. Texts of lingua's set in other "
        "languages given a sentiment: "
        f"{_percent(language['other_language_texts_given_sentiment'])}."
    )
    add("")
    add("| text | CPU ms a text (median) |")
    add("| --- | --- |")
    for kind, ms in text["ms_per_text"].items():
        add(f"| {kind} | {ms} |")
    add("")
    memory = text.get("memory")
    if memory:
        add(
            f"A worker pool process after its warm-up and 300 texts: RSS {memory['rss_mb']} MB, "
            f"high-water mark {memory['peak_mb']} MB."
        )
        add("")
    service = language["service"]
    wrong = service["single words"]["wrong"]
    targets.append(
        ("single words answered with a wrong language <= 15 %", _percent(wrong), wrong <= 0.15)
    )
    pairs = service["word pairs"]["right"]
    targets.append(("word pairs right >= 83 %", _percent(pairs), pairs >= 0.83))
    right = service["sentences"]["right"]
    targets.append(("sentences right >= 96 %", _percent(right), right >= 0.96))
    codes = sum(service[k]["all_languages"]["codes_not_iso_639_1"] for k in kinds)
    targets.append(("only ISO 639-1 language codes", f"{codes} others", codes == 0))
    r = tweets["service_r"]
    targets.append(("sentiment on VADER's tweets, r >= 0.85", f"{r}", r >= 0.85))


def _engine(
    engine: dict[str, Any],
    add: Callable[[str], None],
    targets: list[tuple[str, str, bool]],
) -> None:
    from bench.engine import TARGETS
    from bench.engine import markdown as engine_table

    add("### The imaging engine in CPU time, against pyvips in the same process")
    add("")
    add(
        "CPU per image over every thread of the process (`time.process_time`), best of"
        " interleaved rounds (the median beside it), with the wall time: `python -m"
        " bench.engine` in the development venv, and `--docker` inside the worker image"
        " (its AVX2 build, then its SSE4 build forced). Service: `process_image`, default"
        " options, no text. Job: the same with a text (the captioned third output) and"
        " `analyze_text`, against pyvips making the two default renditions. The engines:"
        " docs/ENGINE.md."
    )
    add("")
    for key, where in (
        ("venv", "development venv"),
        ("image", "worker image"),
        ("image_sse4", "worker image, SSE4 build"),
    ):
        if engine.get(key):
            add(engine_table(engine[key], where))
            add("")
    if engine.get("image_skipped"):
        add(f"Worker image not measured in this run: {engine['image_skipped']}.")
        add("")
    measured = engine.get("image") or engine.get("venv")
    if measured:
        for key, row in measured["rows"].items():
            ratio = row["ours"]["cpu_ms"] / row["vips"]["cpu_ms"]
            targets.append(
                (
                    f"{row['label']}: CPU at most {TARGETS[key]}x pyvips' ({measured['engine']})",
                    f"{ratio:.2f}x",
                    ratio <= TARGETS[key],
                )
            )


def _job_cpu(
    job_cpu: dict[str, Any],
    add: Callable[[str], None],
    targets: list[tuple[str, str, bool]],
) -> None:
    from bench.job_cpu import CLIENT_TARGET, CPU_TARGET
    from bench.job_cpu import markdown as job_table

    add("### A 12 MP job, whole: the workers' CPU and the client-seen time, against pyvips")
    add("")
    add(
        "`python -m bench.job_cpu` (`--docker`: the worker image's worker on the same"
        " stack): the CPU of every process of one worker per job, from before the submit"
        " to after `completed`, and the client-seen time from the upload's start to"
        " `completed`; pyvips making the two default renditions in a process of its own;"
        " interleaved rounds."
    )
    add("")
    for key in ("venv", "image"):
        if job_cpu.get(key):
            add(job_table(job_cpu[key]))
            add("")
    if job_cpu.get("image_skipped"):
        add(f"Worker image not measured in this run: {job_cpu['image_skipped']}.")
        add("")
    measured = job_cpu.get("image") or job_cpu.get("venv")
    if measured:
        cpu, client = measured["cpu_ratio"]["median"], measured["client_ratio"]
        where = measured["worker"]
        targets.append(
            (
                f"12 MP job: workers' CPU at most {CPU_TARGET}x pyvips' ({where})",
                f"{cpu:.2f}x",
                cpu <= CPU_TARGET,
            )
        )
        targets.append(
            (
                f"12 MP job with its text, client-seen, at most {CLIENT_TARGET}x pyvips ({where})",
                f"{client:.2f}x",
                client <= CLIENT_TARGET,
            )
        )


def _codecs(
    codecs: dict[str, Any], add: Callable[[str], None], targets: list[tuple[str, str, bool]]
) -> None:
    """The ``bench/encoders.py`` section: ms per megapixel of each format, against the
    weights the cost model (``chalicelib/media/formats.py``) prices jobs with."""
    from chalicelib.media.formats import INPUT_FORMATS, OUTPUT_FORMATS

    add("### Encoders and decoders: ms per megapixel (one core)")
    add("")
    add(
        f"A photo-like {codecs['megapixels']:g} MP picture, best of a few runs each: the "
        "service's `encode` with each output format's default settings, and Pillow's "
        "decode of the same picture saved in each input format. The cost model prices a "
        "job with the weights in `chalicelib/media/formats.py`, set from this table."
    )
    add("")
    add("| output format | encode, this run | the cost model's weight |")
    add("| --- | --- | --- |")
    for fmt, ms in codecs["encode_ms_per_mp"].items():
        add(f"| {fmt} | {ms:.1f} ms/MP | {OUTPUT_FORMATS[fmt].encode_ms_per_mp:g} ms/MP |")
    add("")
    add("| input format | decode, this run | the cost model's weight |")
    add("| --- | --- | --- |")
    for fmt, ms in codecs["decode_ms_per_mp"].items():
        add(f"| {fmt} | {ms:.1f} ms/MP | {INPUT_FORMATS[fmt].decode_ms_per_mp:g} ms/MP |")
    add("")
    speeds = ", ".join(f"speed {k}: {v:.0f}" for k, v in codecs["avif_speed_ms_per_mp"].items())
    add(f"AVIF encode by libavif speed (ms/MP; the service uses speed 6): {speeds}.")
    add("")
    # A weight far below what this machine measures lets a job's price understate it.
    under = [
        fmt
        for fmt, ms in codecs["encode_ms_per_mp"].items()
        if ms > 2 * OUTPUT_FORMATS[fmt].encode_ms_per_mp
    ]
    targets.append(
        (
            "encoder cost table; no weight under half the measured cost",
            ", ".join(under) or "all within",
            not under,
        )
    )


def _against_vips(
    e2e: dict[str, Any], add: Callable[[str], None], targets: list[tuple[str, str, bool]]
) -> None:
    """The 12 MP job, submit to completed, beside pyvips making the same renditions."""
    vips, two, captioned = e2e["vips_12mp"], e2e["latency_12mp_renditions"], e2e["latency_12mp"]
    add(
        f"The 12 MP JPEG job against pyvips making the same default renditions from the "
        f"same bytes, measured in turns (one of each per round, {vips['n']} rounds):"
    )
    add("")
    add("| 12 MP JPEG (4000x3000, 3.8 MB) | p50 | p95 | p50 / pyvips p50 |")
    add("| --- | --- | --- | --- |")
    for label, row in (
        ("job, submit to completed: thumbnail 512 + preview 1280 (caption off)", two),
        ("job, submit to completed, with a text: + a captioned 1280 px output", captioned),
        ("pyvips: thumbnail 512 + preview 1280, JPEG q85, from the bytes in memory", vips),
    ):
        add(
            f"| {label} | {_ms(row['p50_ms'])} | {_ms(row['p95_ms'])} "
            f"| {_x(row['p50_ms'], vips['p50_ms'])} |"
        )
    add("")
    add(
        "The job's time also holds what pyvips does not do: the 3.8 MB multipart upload "
        "to the API, S3 puts and gets (moto), the queue, the text analysis and the facts. "
        "Both jobs carry the same text; the first has the caption off (`options: "
        '{"caption": {"enabled": false}}`), so it makes the same two outputs as pyvips.'
    )
    add("")
    ratio = two["p50_ms"] / vips["p50_ms"]
    targets.append(
        (
            "12 MP job, submit to completed p50, at most 2x pyvips making the same renditions",
            f"{ratio:.2f}x (with a text and its captioned output: "
            f"{_x(captioned['p50_ms'], vips['p50_ms'])})",
            ratio <= 2.0,
        )
    )


def _share(value: float) -> str:
    return f"{math.floor(value * 100) / 100:.2f}"


def _smartcrop(
    smart: dict[str, Any], add: Callable[[str], None], targets: list[tuple[str, str, bool]]
) -> None:
    """The ``bench/smartcrop.py`` section: subjects kept, overlap with libvips, time."""
    quality, timing = smart["quality"], smart["timing"]
    add("### Smart crop: `gravity: auto` against `center` and libvips' attention")
    add("")
    add(
        "Share of the hand-marked subject box (`tests/corpus/subjects`) inside each "
        "window (rounded down: 0.89 is short of the 90 % that counts as kept), and the "
        "intersection over union of our window with libvips' "
        '`smartcrop(interesting="attention")` window (pyvips, same file).'
    )
    add("")
    for shape, row in quality.items():
        counts = row["counts"]
        add(
            f"**{shape}**: subject kept (>= 90 % of its box) by auto {counts['auto']}/10, "
            f"center {counts['center']}/10, libvips {counts['libvips']}/10; "
            f"mean IoU with libvips {row['mean_iou']:.2f}."
        )
        add("")
        add("| photo | auto | center | libvips | IoU auto / libvips |")
        add("| --- | --- | --- | --- | --- |")
        for photo in row["photos"]:
            kept = photo["kept"]
            add(
                f"| {photo['file']} | {_share(kept['auto'])} | {_share(kept['center'])} "
                f"| {_share(kept['libvips'])} | {photo['iou']:.2f} |"
            )
        add("")
        targets.append(
            (
                f"`auto` keeps the subject in at least 8 of 10 {shape} crops, more than center",
                f"{counts['auto']}/10 (center {counts['center']}/10)",
                counts["auto"] >= 8 and counts["auto"] > counts["center"],
            )
        )
    job = timing["job"]
    best = job["best"]
    attention = job["attention_ms"]
    add(
        f"What `auto` adds to a 12 MP job: `process_image` on the {timing['source']}, with "
        f"the default renditions and a 512x512 cover rendition, `gravity: auto` and `center` "
        f"interleaved, {job['runs']} runs each. The `attention` stage takes "
        f"{_ms(attention['min_ms'])} (median {_ms(attention['median_ms'])}); the best totals "
        f"are {_ms(best['auto']['total'])} with `auto` and {_ms(best['center']['total'])} "
        f"with `center` ({job['added_ms']:+.1f} ms; medians {_ms(job['median_total_ms']['auto'])}"
        f" and {_ms(job['median_total_ms']['center'])})."
    )
    add("")
    add("| stage (ms, best run) | " + " | ".join(best["auto"]) + " |")
    add("| --- | " + " | ".join("---" for _ in best["auto"]) + " |")
    for gravity in ("auto", "center"):
        add(
            f"| {gravity} | "
            + " | ".join(
                f"{best[gravity][k]:.1f}" if k in best[gravity] else "" for k in best["auto"]
            )
            + " |"
        )
    add("")
    add("The parts, and libvips on the same picture (best of the runs; median in the JSON):")
    add("")
    add("| what | time |")
    add("| --- | --- |")
    for group in ("one_crop", "parts"):
        label = {"one_crop": "one square crop", "parts": "part"}[group]
        for what, value in timing[group].items():
            add(f"| {label}, {what} | {_ms(value['min_ms'])} |")
    add("")
    targets.append(
        (
            "`auto` adds a few ms to a 12 MP job (the `attention` stage, best run)",
            _ms(attention["min_ms"]),
            attention["min_ms"] <= 5.0,
        )
    )


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    pipeline = results.get("pipeline", {})
    ax = axes[0]
    keys = [k for k, v in pipeline.items() if isinstance(v, dict)]
    impls = [("service", "service"), ("vips", "pyvips"), ("naive", "naive Pillow")]
    width = 0.27
    for i, (impl, label) in enumerate(impls):
        values = [(_best_ms(pipeline[k], impl) or 0) for k in keys]
        ax.bar([x + (i - 1) * width for x in range(len(keys))], values, width, label=label)
    ax.set_xticks(range(len(keys)), keys)
    ax.set_ylabel("ms per image (lower is better)")
    ax.set_yscale("log")
    ax.set_title("Pipeline per image")
    ax.legend()

    ax = axes[1]
    e2e = results.get("e2e")
    if e2e:
        labels = ["no-op", "tiny job", "12 MP job\n(+ caption)"]
        p50 = [e2e["noop"]["p50_ms"], e2e["latency_tiny"]["p50_ms"], e2e["latency_12mp"]["p50_ms"]]
        p95 = [e2e["noop"]["p95_ms"], e2e["latency_tiny"]["p95_ms"], e2e["latency_12mp"]["p95_ms"]]
        ax.bar([x - 0.2 for x in range(3)], p50, 0.4, label="p50")
        ax.bar([x + 0.2 for x in range(3)], p95, 0.4, label="p95")
        ax.set_xticks(range(3), labels)
        ax.set_ylabel("submit to completed, ms")
        ax.set_title("End to end latency")
        ax.legend()

    ax = axes[2]
    ratios: list[tuple[str, float, float]] = []
    row = pipeline.get("jpeg12")
    if row and _best_ms(row, "vips"):
        ratios.append(("12MP / pyvips", _best_ms(row, "service") / _best_ms(row, "vips"), 1.5))
    if results.get("memory"):
        ratios.append(
            ("12MP RSS / 200MB", results["memory"]["jpeg12"]["service"]["peak_bytes"] / 200e6, 1.0)
        )
    if e2e:
        scaling = e2e["throughput_2"]["jobs_per_s"] / e2e["throughput_1"]["jobs_per_s"]
        ratios.append(("1.8 / (2w / 1w)", 1.8 / scaling, 1.0))
        if "vips_12mp" in e2e:
            job = e2e["latency_12mp_renditions"]["p50_ms"]
            ratios.append(("12MP job / pyvips", job / e2e["vips_12mp"]["p50_ms"], 2.0))
    if row and _best_ms(row, "naive"):
        ratios.append(
            ("4 / (naive / service)", 4 * _best_ms(row, "service") / _best_ms(row, "naive"), 1.0)
        )
    api = results.get("api")
    if api:
        ratios.append(
            ("submit p99 / floor", api["handler"]["p99_ms"] / api["floor"]["p99_ms"], 1.3)
        )
    cold = results.get("coldstart")
    if cold:
        ratios.append(
            (
                "import app / boto3",
                cold["import_app"]["median_ms"] / cold["import_boto3"]["median_ms"],
                1.5,
            )
        )
    names = [r[0] for r in ratios]
    ax.barh(
        names,
        [r[1] for r in ratios],
        color=["tab:green" if r[1] <= r[2] else "tab:red" for r in ratios],
    )
    for i, r in enumerate(ratios):
        ax.plot([r[2], r[2]], [i - 0.4, i + 0.4], color="black")
    ax.set_title("Against the targets (black line: the target)")
    ax.invert_yaxis()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
