"""Peak memory (RSS) of a worker process for one image, against pyvips doing the renditions.

Each measurement is a fresh child process. The service's child imports what a
Celery pool process imports (``worker.tasks``: Celery, the pipeline, Pillow, the
text analysis), runs the worker's per-process warm-up, then processes the image
once; the pyvips child imports pyvips only and makes the same two renditions.
The figures are the kernel's high-water mark of the child's RSS (``VmHWM`` in
``/proc/self/status``), measured before the image (the idle process) and after
it; the difference is what the image itself cost. Not ``ru_maxrss``: Linux
carries it over from the parent across fork and exec, so a child of a parent
that had just generated the 50 MP image reported the parent's 2 GB.

Run: ``.venv/bin/python -m bench.memory``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from bench import images

CHILD = """
import resource, sys
sys.path.insert(0, {root!r})
kind, path = sys.argv[1], sys.argv[2]
def peak():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
if kind == "service":
    import worker.tasks
    worker.tasks._prepare_process()
    from bench.pipeline import service as work
else:
    import pyvips
    from bench.pipeline import vips as work
idle = peak()
data = open(path, "rb").read()
work(data)
print(idle, peak())
"""


def measure(kind: str, key: str) -> dict[str, int]:
    from bench.coldstart import ROOT

    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(root=str(ROOT)), kind, str(images.get(key).path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    idle, peak = (int(v) for v in out.stdout.split()[-2:])
    return {"idle_bytes": idle, "peak_bytes": peak, "image_bytes": peak - idle}


def run(quick: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key in ("jpeg12", "jpeg50"):
        row = {"service": measure("service", key), "vips": measure("vips", key)}
        result[key] = row
        s, v = row["service"], row["vips"]
        print(
            f"{key}: worker peak {s['peak_bytes'] / 2**20:.0f} MiB "
            f"(idle {s['idle_bytes'] / 2**20:.0f}, image +{s['image_bytes'] / 2**20:.0f}); "
            f"pyvips peak {v['peak_bytes'] / 2**20:.0f} MiB "
            f"(idle {v['idle_bytes'] / 2**20:.0f}, image +{v['image_bytes'] / 2**20:.0f})",
            flush=True,
        )
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
