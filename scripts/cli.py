"""``python -m scripts.cli``: the ``media-jobs`` command from a checkout.

The client is the installable package in ``client/`` (``media_jobs_client``, installed
into ``.venv`` by ``make``); this runs its command, unchanged.
"""

from __future__ import annotations

import sys

from media_jobs_client.cli import main

if __name__ == "__main__":
    sys.exit(main())
