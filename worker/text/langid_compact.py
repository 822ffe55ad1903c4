"""py3langid's language model in about a seventh of the memory, with identical answers.

py3langid's model (shipped in its wheel) is a naive Bayes table of 100,053 byte
n-gram features by 142 language columns (float16, 28 MB) and an Aho-Corasick
automaton that finds the features in a text, stored as a full transition table
(38,346 distinct rows of 256 uint32 next states, 39 MB) plus per-state lists of
Python ints; loaded, it costs about 75 MB in every worker pool process.

This module loads the same file and keeps it compactly:

- The automaton: an Aho-Corasick state is the longest suffix of the bytes read
  so far that is a node of the n-gram trie (at most 6 bytes deep). So the state
  at each byte, and the feature it emits, follows from the last six bytes alone:
  each trie node is kept as one sorted key ``depth << 48 | its bytes`` with the
  feature it emits (1.2 MB), and a text is matched with ``numpy.searchsorted``
  for each depth instead of walking the table byte by byte.
- The feature table: in each language column about 80 % of the entries hold the
  column's smallest value (the smoothing floor for unseen n-grams); only the
  other entries are kept, as sparse rows (8 MB), and ``table[idx]`` rebuilds the
  exact float16 rows py3langid would have read.

Scoring itself is py3langid's own code (``LanguageIdentifier._decide``,
``_sparse_score``): it gets the same feature counts, in the same order, and the
same float16 rows, so ``classify`` returns the same language and the same
confidence bit for bit (``tests/unit/worker/text/test_langid_compact.py`` checks this). Those
private py3langid methods are fenced in ``worker/upstream.py`` (the version this
was written against, and a guard test).

Loading streams the model file in chunks, so the conversion never holds the
whole table set at once; it takes about a second, once per machine when the
result is kept in a cache directory (``load(cache_dir=...)``), else once per process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import lzma
import shutil
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import IO, Any

import numpy as np
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

from worker.heap import release_free_memory

log = logging.getLogger(__name__)

MAX_DEPTH = 6
_DEPTH_SHIFT = 48
# Bytes of text matched per numpy pass; bounds the working memory of a long text.
_CHUNK = 1 << 16
# Rows read from the model file per step while converting it.
_READ_ROWS = 4096


class SparseRows:
    """A float16 (features x languages) table kept as each column's floor plus exceptions.

    ``rows[idx]`` is the dense ``(len(idx), languages)`` float16 array, exactly as
    indexing the original table would give.
    """

    def __init__(
        self,
        floor: np.ndarray,
        indptr: np.ndarray,
        columns: np.ndarray,
        values: np.ndarray,
    ) -> None:
        self.floor = floor
        self.indptr = indptr
        self.columns = columns
        self.values = values
        self.shape = (len(indptr) - 1, len(floor))
        self.dtype = floor.dtype

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in (self.floor, self.indptr, self.columns, self.values)))

    def __getitem__(self, idx: Any) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.intp)
        out = np.empty((len(idx), self.shape[1]), dtype=self.dtype)
        out[:] = self.floor
        starts = self.indptr[idx]
        lengths = self.indptr[idx + 1] - starts
        total = int(lengths.sum())
        if total:
            row_of = np.repeat(np.arange(len(idx)), lengths)
            first = np.cumsum(lengths) - lengths
            flat = np.arange(total) - np.repeat(first, lengths) + np.repeat(starts, lengths)
            out[row_of, self.columns[flat]] = self.values[flat]
        return out


class CompactLanguageIdentifier(LanguageIdentifier):
    """py3langid's ``LanguageIdentifier`` over the compact model; same ``classify``/``rank``."""

    __slots__ = ("_features", "_keys", "_root_feature")

    def __init__(
        self,
        nb_ptc: SparseRows,
        nb_pc: np.ndarray,
        nb_classes: list[str],
        keys: np.ndarray,
        features: np.ndarray,
        root_feature: int,
        norm_probs: bool = False,
    ) -> None:
        super().__init__(nb_ptc, nb_pc, nb_classes, None, None, norm_probs, tk_row=[])
        self._keys = keys
        self._features = features
        self._root_feature = root_feature

    def set_languages(self, langs: Any = None) -> None:
        raise NotImplementedError("the compact model keeps all languages")

    def feature_visits(self, text: bytes) -> Counter[int] | None:
        """What ``py3langid.langid.visit_counts`` returns for ``text``, same key order."""
        found: list[int] = []
        for start in range(0, len(text), _CHUNK):
            # The state at a byte depends on the MAX_DEPTH bytes ending there only.
            context = min(start, MAX_DEPTH - 1)
            window = text[start - context : start + _CHUNK]
            emitted = self._emitted(np.frombuffer(window, dtype=np.uint8))[context:]
            found.extend(emitted[emitted >= 0].tolist())
        return Counter(found) if found else None

    def _emitted(self, data: np.ndarray) -> np.ndarray:
        keys, features = self._keys, self._features
        last = len(keys) - 1
        emitted = np.full(len(data), self._root_feature, dtype=np.int32)
        gram = data.astype(np.uint64)
        for depth in range(1, MAX_DEPTH + 1):
            if depth > 1:
                gram = (gram[:-1] << np.uint64(8)) | data[depth - 1 :]
            if not len(gram):
                break
            query = gram | np.uint64(depth << _DEPTH_SHIFT)
            at = np.minimum(np.searchsorted(keys, query), last)
            hit = keys[at] == query
            # A deeper match is a longer suffix: it overrides the shallower one.
            emitted[depth - 1 :][hit] = features[at[hit]]
        return emitted

    def _raw_score(self, text: bytes) -> np.ndarray:
        visits = self.feature_visits(text)
        if visits:
            return self._sparse_score(visits, self.nb_ptc)
        return super()._raw_score(b"")


def load(
    model_file: str | Path = MODEL_FILE,
    norm_probs: bool = True,
    cache_dir: str | Path | None = None,
) -> CompactLanguageIdentifier:
    """Load py3langid's model file (its wheel's by default) into the compact form.

    With ``cache_dir``, the converted arrays are kept there and memory-mapped
    read-only: every worker process on the machine shares their pages through the
    page cache instead of holding about 11 MB of its own (a text's features are
    spread over the whole table, so each process soon maps most of it, but the
    memory is there once), and a process loads in tens of milliseconds instead of
    converting for about a second. The first process converts and saves them (once
    per model file); a directory it cannot write leaves it the in-memory model.
    """
    path = Path(model_file)
    if not path.is_absolute():
        path = MODEL_DIR / path
    if cache_dir is None:
        return _from_arrays(_convert(path), norm_probs)
    target = Path(cache_dir) / _cache_name(path)
    arrays = _read_cache(target)
    if arrays is None:
        converted = _convert(path)
        if not _write_cache(target, converted):
            return _from_arrays(converted, norm_probs)
        del converted
        release_free_memory()
        arrays = _read_cache(target)
        if arrays is None:
            raise RuntimeError(f"the language model saved in {target} cannot be read back")
    return _from_arrays(arrays, norm_probs)


# Bump when the saved arrays change meaning, so an old cache is not read.
_CACHE_FORMAT = 1
_ARRAYS = ("pc", "floor", "indptr", "columns", "values", "keys", "features")
_META = "meta.json"


def _cache_name(model: Path) -> str:
    stat = model.stat()
    identity = f"{_CACHE_FORMAT}:{model}:{stat.st_size}:{stat.st_mtime_ns}:{MAX_DEPTH}"
    return "langid-" + hashlib.sha256(identity.encode()).hexdigest()[:16]


def _convert(path: Path) -> dict[str, Any]:
    with tempfile.TemporaryFile(suffix=".npz") as tmp:
        with lzma.open(path) as source:
            shutil.copyfileobj(source, tmp, length=1 << 20)
        tmp.seek(0)
        with zipfile.ZipFile(tmp) as archive:
            classes = [str(c) for c in _read_whole(archive, "classes").tolist()]
            pc = np.asarray(_read_whole(archive, "pc"))
            release_free_memory()
            ptc = _sparse_table(archive)
            release_free_memory()
            keys, features, root_feature = _trie(archive)
    release_free_memory()
    return {
        "classes": classes,
        "root_feature": root_feature,
        "pc": pc,
        "floor": ptc.floor,
        "indptr": ptc.indptr,
        "columns": ptc.columns,
        "values": ptc.values,
        "keys": keys,
        "features": features,
    }


def _from_arrays(arrays: dict[str, Any], norm_probs: bool) -> CompactLanguageIdentifier:
    ptc = SparseRows(arrays["floor"], arrays["indptr"], arrays["columns"], arrays["values"])
    return CompactLanguageIdentifier(
        ptc,
        arrays["pc"],
        arrays["classes"],
        arrays["keys"],
        arrays["features"],
        arrays["root_feature"],
        norm_probs=norm_probs,
    )


def _write_cache(target: Path, arrays: dict[str, Any]) -> bool:
    """Save ``arrays`` as ``target``, all at once (a directory renamed into place).

    False when the directory cannot be written; a concurrent writer's copy is as good.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    except OSError as exc:
        log.info("language model not cached in %s: %s", target.parent, exc)
        return False
    try:
        for name in _ARRAYS:
            np.save(staging / f"{name}.npy", arrays[name], allow_pickle=False)
        meta = {"classes": arrays["classes"], "root_feature": arrays["root_feature"]}
        (staging / _META).write_text(json.dumps(meta))
        # Readable by every user: an image builds it as root, the worker runs as another.
        staging.chmod(0o755)
        for file in staging.iterdir():
            file.chmod(0o644)
        staging.rename(target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if _read_cache(target) is not None:
            return True  # another process saved it first
        log.info("language model not cached in %s: %s", target, exc)
        return False
    return True


def _read_cache(target: Path) -> dict[str, Any] | None:
    """The saved arrays, memory-mapped read-only; None if absent or damaged (a damaged
    copy is left for an operator to remove: the worker then keeps its model in memory)."""
    try:
        meta = json.loads((target / _META).read_text())
        arrays: dict[str, Any] = {
            name: np.load(target / f"{name}.npy", mmap_mode="r", allow_pickle=False)
            for name in _ARRAYS
        }
        classes = [str(c) for c in meta["classes"]]
        root_feature = int(meta["root_feature"])
    except (FileNotFoundError, NotADirectoryError):
        return None  # not saved (yet)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring a damaged language model cache in %s: %s", target, exc)
        return None
    rows = len(arrays["indptr"]) - 1
    consistent = (
        len(classes) == len(arrays["floor"]) == len(arrays["pc"])
        and rows > 0
        and len(arrays["columns"]) == len(arrays["values"]) == int(arrays["indptr"][-1])
        and len(arrays["keys"]) == len(arrays["features"])
    )
    if not consistent:
        log.warning("ignoring an inconsistent language model cache in %s", target)
        return None
    return {**arrays, "classes": classes, "root_feature": root_feature}


def main(argv: list[str] | None = None) -> None:
    """``python -m worker.text.langid_compact DIR``: convert the model into DIR (an image build)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m worker.text.langid_compact CACHE_DIR")
    model = load(cache_dir=args[0])
    if not isinstance(model._keys, np.memmap):
        raise SystemExit(f"could not save the language model in {args[0]}")


def _open_array(
    archive: zipfile.ZipFile, name: str
) -> tuple[IO[bytes], tuple[int, ...], np.dtype[Any]]:
    stream = archive.open(name + ".npy")
    version = np.lib.format.read_magic(stream)
    read_header = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, fortran, dtype = read_header(stream)
    if fortran or dtype.hasobject:
        raise ValueError(f"unexpected layout of {name} in the language model")
    return stream, tuple(shape), dtype


def _read_whole(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    with archive.open(name + ".npy") as stream:
        return np.lib.format.read_array(stream, allow_pickle=False)


def _row_chunks(archive: zipfile.ZipFile, name: str, width: int = 0) -> Any:
    """Yield (first row, rows) of ``name``, ``_READ_ROWS`` at a time, never the whole array."""
    stream, shape, dtype = _open_array(archive, name)
    with stream:
        width = width or int(np.prod(shape[1:]))
        total = int(np.prod(shape)) // width
        for start in range(0, total, _READ_ROWS):
            count = min(_READ_ROWS, total - start)
            data = stream.read(count * width * dtype.itemsize)
            yield start, np.frombuffer(data, dtype=dtype).reshape(count, width)


def _sparse_table(archive: zipfile.ZipFile) -> SparseRows:
    # Three passes over the file (floor, row sizes, entries) so that only the
    # result is ever allocated, never a list of pieces to concatenate.
    floor: np.ndarray | None = None
    for _, chunk in _row_chunks(archive, "ptc"):
        low = chunk.min(axis=0)
        floor = low if floor is None else np.minimum(floor, low)
    if floor is None or len(floor) > 256:
        raise ValueError("unexpected shape of the language model's table")
    # Compare bit patterns, so -0.0 and 0.0 stay distinct.
    floor_bits = floor.view(np.uint16)
    sizes = []
    for _, chunk in _row_chunks(archive, "ptc"):
        sizes.append((chunk.view(np.uint16) != floor_bits).sum(axis=1))
    indptr = np.zeros(sum(len(s) for s in sizes) + 1, dtype=np.int64)
    np.cumsum(np.concatenate(sizes), out=indptr[1:])
    del sizes
    columns = np.empty(int(indptr[-1]), dtype=np.uint8)
    values = np.empty(int(indptr[-1]), dtype=floor.dtype)
    for start, chunk in _row_chunks(archive, "ptc"):
        other = chunk.view(np.uint16) != floor_bits
        span = slice(int(indptr[start]), int(indptr[start + len(chunk)]))
        columns[span] = np.nonzero(other)[1]
        values[span] = chunk[other]
    return SparseRows(floor.copy(), indptr, columns, values)


def _trie(archive: zipfile.ZipFile) -> tuple[np.ndarray, np.ndarray, int]:
    """Each trie node's key (depth << 48 | bytes), sorted, and the feature it emits.

    The transition table (39 MB) is streamed once per trie level rather than held.
    """
    state_row = np.asarray(_read_whole(archive, "nextmove_row"), dtype=np.intp)
    out = np.asarray(_read_whole(archive, "out_feat"), dtype=np.int32)
    states = len(state_row)
    if len(out) != states:
        raise ValueError("one output slot per automaton state expected")
    rows = int(state_row.max()) + 1

    # Depth of each state: breadth-first from the root, one pass per level.
    depth = np.full(states, -1, dtype=np.int8)
    depth[0] = 0
    for level in range(MAX_DEPTH + 1):
        frontier_rows = np.zeros(rows, dtype=bool)
        frontier_rows[state_row[depth == level]] = True
        if not frontier_rows.any():
            break
        for start, block in _row_chunks(archive, "nextmove", 256):
            used = frontier_rows[start : start + len(block)]
            if used.any():
                targets = block[used].ravel()
                depth[targets[depth[targets] < 0]] = level + 1
    if (depth < 0).any():
        raise ValueError("language model automaton has unreachable states")

    # Trie edges: a transition to a state one level deeper. A transition row shared
    # by several states holds only the shallowest one's children.
    owner = np.full(rows, -1, dtype=np.intp)
    by_depth = np.argsort(depth, kind="stable")[::-1]
    owner[state_row[by_depth]] = by_depth  # the last write, the shallowest, wins
    parent = np.full(states, -1, dtype=np.intp)
    label = np.zeros(states, dtype=np.uint64)
    for start, block in _row_chunks(archive, "nextmove", 256):
        owners = owner[start : start + len(block)]
        child = depth[block] == (depth[owners] + 1)[:, None]
        which, byte = np.nonzero(child)
        targets = block[which, byte]
        parent[targets] = owners[which]
        label[targets] = byte
    if int((parent >= 0).sum()) != states - 1:
        raise ValueError("language model automaton is not a trie with failure links")

    key = np.zeros(states, dtype=np.uint64)
    for d in range(1, MAX_DEPTH + 1):
        level_states = np.nonzero(depth == d)[0]
        key[level_states] = (key[parent[level_states]] << np.uint64(8)) | label[level_states]
    tagged = key | (depth.astype(np.uint64) << np.uint64(_DEPTH_SHIFT))
    order = np.argsort(tagged[1:]) + 1  # the root is "no match"
    return tagged[order], out[order], int(out[0])


if __name__ == "__main__":
    main()
