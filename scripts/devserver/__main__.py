"""``python -m scripts.devserver``: the local API server (``server.main``)."""

import sys

from scripts.devserver.server import main

sys.exit(main())
