"""The worker's reliance on libraries' private internals, fenced: what, where, which version.

Five modules override, re-point or trim code a library does not promise to keep:

- ``worker.broker.transport`` replaces kombu's Redis ``Channel._brpop_read`` and ``_get``
  (kombu's own bodies with an envelope check added), so a garbage message is
  dead-lettered instead of stopping the worker, and guards ``_receive_one``, which
  relies on redis-py's ``PubSub.parse_response`` blocking without a timeout.
- ``worker.text.analysis`` re-points textstat's ``_count_syllables.get_cmudict`` at a
  compact lexicon (same answers, a tenth of the memory).
- ``worker.text.langid_compact`` subclasses py3langid's ``LanguageIdentifier``,
  relying on its constructor, ``_raw_score``, ``_sparse_score`` and ``_decide``.
- ``worker.imaging.animation`` restores Pillow's ``PngImageFile._prev_im`` (the canvas
  an APNG frame's "dispose to previous" restores) after a blend-over frame is loaded,
  relying on ``_seek`` and ``load_end`` keeping that canvas there. Pillow-SIMD 12.1 (the
  worker image's engine on x86-64, docs/ENGINE.md) computes the disposal at seek time,
  before the load, so the restored canvas changes nothing there; both engines' code is
  fenced, each checked where it is installed (the venv here, the image in
  ``tests/compose/test_engine_parity.py``).
- ``worker.text.analysis`` imports networkx for yake without networkx's algorithm
  subpackages, relying on networkx's ``__init__`` and on yake using only
  ``networkx.DiGraph``.

And one calls a C library's API that a binding exports without offering it:

- ``worker.imaging.spng`` calls libspng's functions through ctypes in pyspng's extension
  module (pyspng's Python API decodes a whole image with every checksum ignored; the
  worker needs the checksums, the row API and the stored samples).

Each is listed here with the version it was written against and a digest of the
upstream source it relies on (for the extension: of the built module, per machine
architecture, with the symbols and constants used). ``tests/unit/worker/test_upstream.py`` fails,
naming the module to review, as soon as an upgrade changes either; after
reviewing, update the version and digest here (the test prints the new digest).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import platform
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PrivateDependency:
    """Private upstream code one of our modules relies on."""

    package: str  # the distribution name, as pinned in constraints.txt
    version: str  # the version the dependent module was written against
    # "module:qualified.name" of each upstream member relied on, or "module" for a whole one
    members: tuple[str, ...]
    used_by: str  # our module that must be reviewed when they change
    source_sha256: str  # digest of the members' source, in order

    def installed(self) -> bool:
        """Whether this distribution is installed here (the two imaging engines are
        never installed together)."""
        try:
            importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            return False
        return True

    def current_digest(self) -> str:
        """The digest of the installed members' source (``inspect.getsource``)."""
        digest = hashlib.sha256()
        for member in self.members:
            module_name, _, qualified = member.partition(":")
            target: object = importlib.import_module(module_name)
            for part in filter(None, qualified.split(".")):
                target = getattr(target, part)
            digest.update(inspect.getsource(target).encode())  # type: ignore[arg-type]
        return digest.hexdigest()


PRIVATE_DEPENDENCIES = (
    PrivateDependency(
        package="kombu",
        version="5.7.0",
        members=(
            "kombu.transport.redis:Channel._brpop_read",
            "kombu.transport.redis:Channel._get",
            "kombu.transport.redis:Channel._receive_one",
        ),
        used_by="worker.broker.transport",
        source_sha256="fff8e233df821079adaa4e2a735dcae2b25efc78332fba2712ac5f96dd843896",
    ),
    PrivateDependency(
        package="redis",
        version="8.1.0",
        members=("redis.client:PubSub.parse_response",),
        used_by="worker.broker.transport",
        source_sha256="574ce2c8e917eb1e3e679f36987a9b342a31e356dd68f70b50520dad794540cf",
    ),
    PrivateDependency(
        package="pillow",
        version="13.0.0",
        members=(
            "PIL.PngImagePlugin:PngImageFile._seek",
            "PIL.PngImagePlugin:PngImageFile.load_end",
        ),
        used_by="worker.imaging.animation",
        source_sha256="b54cbc5a461242a18cf61c6ec859d170344526f9f6737f29e81bd5eda681db60",
    ),
    PrivateDependency(
        package="pillow-simd",
        version="12.1.1.post0",
        members=(
            "PIL.PngImagePlugin:PngImageFile._seek",
            "PIL.PngImagePlugin:PngImageFile.load_end",
        ),
        used_by="worker.imaging.animation",
        source_sha256="d15470f63d069fe682e53da7fe9d2733f250956b684c12a1c2e4e83542829184",
    ),
    PrivateDependency(
        package="textstat",
        version="0.7.8",
        members=("textstat.backend.counts._count_syllables:count_syllables",),
        used_by="worker.text.analysis",
        source_sha256="93f5c392cf9b638d38970ce7010dfa4e78d9faf83708fb3c6b6e1447b6a3f3b6",
    ),
    PrivateDependency(
        package="py3langid",
        version="0.4.0",
        members=(
            "py3langid.langid:LanguageIdentifier.__init__",
            "py3langid.langid:LanguageIdentifier._raw_score",
            "py3langid.langid:LanguageIdentifier._sparse_score",
            "py3langid.langid:LanguageIdentifier._decide",
        ),
        used_by="worker.text.langid_compact",
        source_sha256="e0f061dfdca2acdbc30cd29eb05b52f878c0196ed97a1a2acb0e444f52b16828",
    ),
    PrivateDependency(
        package="networkx",
        version="3.6.1",
        members=("networkx",),
        used_by="worker.text.analysis",
        source_sha256="39537c0bec78e0b81e25629c6fbeeff96c1f315ec462a89e69f92841d9409791",
    ),
    PrivateDependency(
        package="yake",
        version="0.7.3",
        members=(
            "yake.data.core",
            "yake.data.single_word",
            "yake.data.composed_word",
            "yake.data.features",
        ),
        used_by="worker.text.analysis",
        source_sha256="0de96619224cf9762010f5bb8d4a0d040c2e9ae926a00c6e8e395c3e7bf2ae0b",
    ),
)


@dataclass(frozen=True)
class NativeDependency:
    """A C library's API reached through a binding's extension module with ctypes."""

    package: str  # the distribution name, as pinned in constraints.txt
    version: str  # the version the dependent module was written against
    module: str  # the extension module whose exported symbols are called
    library_version: str  # the C library's own version string
    used_by: str
    # sha256 of the extension module's file, by ``platform.machine()``; a machine not
    # listed is checked by version, symbols and constants only
    module_sha256: dict[str, str] = field(default_factory=dict)

    def module_path(self) -> str:
        spec = importlib.util.find_spec(self.module)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(self.module)
        return spec.origin

    def current_digest(self) -> str:
        """The digest of the installed extension module's file."""
        with open(self.module_path(), "rb") as built:
            return hashlib.sha256(built.read()).hexdigest()

    def expected_digest(self) -> str | None:
        return self.module_sha256.get(platform.machine())


NATIVE_DEPENDENCIES = (
    NativeDependency(
        package="pyspng",
        version="0.1.4",
        module="pyspng._pyspng_c",
        library_version="0.7.4",
        used_by="worker.imaging.spng",
        module_sha256={
            "x86_64": "2cd1a13b08e1f217daacaf50fc3b69d9e4dc56fed8681749ec5aa02b8711b5c9",
        },
    ),
)
