"""``python -m media_jobs_client``: the ``media-jobs`` command."""

import sys

from media_jobs_client.cli import main

sys.exit(main())
