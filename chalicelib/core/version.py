"""The service's version: the one place it is written (OpenAPI ``info.version``, ``/api/health``).

Released as the git tag ``v<VERSION>``; CHANGELOG.md has a section per version.
"""

from __future__ import annotations

VERSION = "1.0.0"
