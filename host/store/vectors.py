"""Exact similarity search over an agent's stored vectors, kept as one float32 matrix in memory.

Why exact and in memory: reading an agent's 100k vectors out of SQLite takes about a second
(bench/store.py), far over the 20 ms a search may take, and neither extension did better here
(BENCHMARKS.md, memory search): sqlite-vec 0.1.9 cannot be loaded by this project's Python
(its sqlite3 has no extension loading) and its KNN took 93 ms at 100k x 384 on Debian's Python;
pgvector 0.8.1 (built from source: Debian 12 does not package it) took 116-195 ms to scan the
same exactly, and its HNSW index found 7 of the 10 best and took 105-297 ms with a room filter.
(PostgreSQL can search with pgvector all the same, `[database] vector_search = "pgvector"`: then
`SqlStore.search_memories` asks the database and no matrix is made; see postgres.py.)
So each (agent, model, dimension) gets a matrix of unit vectors, read from the database once
and then brought up to date by what changed: the backend's `stamp` says
whether anything did (cheap on SQLite; count and newest time over an index on PostgreSQL, so
other hosts' writes are seen), the rows written since the newest one read (less a margin for
clocks) are merged in, and a count that still disagrees means a full read. Scoring is a
matrix-vector product in numpy, in blocks on the event loop (`SCORE_BLOCK`), then a partial sort
of the scores for the best few: the product, bound by memory bandwidth, is nearly all of it.

A query's model and dimension select the matrix: vectors of another model or dimension are
never compared with it.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import os
from typing import Awaitable, Callable, Hashable, Sequence, TypeVar

import numpy as np
import numpy.typing as npt

from .rows import Row

#: The columns a search filters on, in the order the matrix keeps them.
FILTER_COLUMNS = ("table_name", "room_id", "world_id", "entity_id")
#: The columns of the rows a matrix is made of, in this order.
ROW_COLUMNS = ("memory_id", "vector", "created_at_ms", *FILTER_COLUMNS)


#: A search scores this many vector components (~1 ms on a quiet core: 10,400 rows of 384)
#: between two turns of the event loop. Not on a worker thread: on this busy 2-core box its
#: handoff cost 3-6 ms at 100k rows, and the loop stalled for the whole product all the same (the
#: loop's thread and the worker share one scheduling group); in blocks the stall is one block.
SCORE_BLOCK = 4_000_000

Key = tuple[str, str, int]  # agent, model, dimension
Stamp = tuple[Hashable, int | None]  # what changes with the vectors; their count when known


class VectorMatrix:
    """One agent's vectors of one model and dimension, unit length, with the columns searches
    filter on; rows are replaced in place and appended into spare capacity."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.stamp: Hashable = None
        self.newest_ms = 0
        self.size = 0  # rows in use, deleted ones included (not live: `remove`)
        self.live = 0
        self._searchable = 0  # rows in use that a search may find: not deleted, not zero
        self._positions: dict[str, int] = {}
        self._ids = np.empty(0, dtype=object)
        self._live = np.empty(0, dtype=bool)
        self._vectors = np.empty((0, dimension), dtype=np.float32)
        # Filter columns as small integers (a value's code per column): comparing 100k of them
        # takes microseconds, 100k strings milliseconds.
        self._codes: dict[str, dict[str, int]] = {c: {} for c in FILTER_COLUMNS}
        self._columns = {c: np.empty(0, dtype=np.int32) for c in FILTER_COLUMNS}

    def merge(self, found: Sequence[Row]) -> None:
        """Add or replace the rows, each of the `ROW_COLUMNS` in order (the vector as float32 bytes).
        Column at a time rather than row at a time: 100k rows took 1 s, Python work per row."""
        if not found:
            return
        ids, vectors, times, *filters = zip(*found)
        positions = self._positions
        new = [i for i in dict.fromkeys(ids) if i not in positions]
        start = self.size
        self._reserve(start + len(new))
        positions.update(zip(new, range(start, start + len(new))))
        self._ids[start : start + len(new)] = new
        self.size += len(new)
        self.live += len(new)
        raw = np.frombuffer(b"".join(vectors), dtype="<f4").reshape(len(ids), self.dimension)
        norms = np.sqrt(np.einsum("ij,ij->i", raw, raw))  # no squared copy of the rows
        # A zero vector (a memory with nothing to embed) is kept, and counted, but never found;
        # nor is one that is not finite (its scores would not order).
        usable = np.isfinite(norms) & (norms > 0)
        scale = np.where(usable, norms, 1)[:, None]
        if len(new) == len(ids):  # all new, each once (a full read): rows start..end, written in place
            at: npt.NDArray[np.int64] | slice = slice(start, start + len(ids))
            np.divide(raw, scale, out=self._vectors[at])
        else:  # some replace rows held (a catch-up); one given twice: the later wins (fancy assignment)
            at = np.fromiter(map(positions.__getitem__, ids), dtype=np.int64, count=len(ids))
            self._vectors[at] = raw / scale
        self._live[at] = usable
        self._searchable = int(np.count_nonzero(self._live[: self.size]))
        for column, values in zip(FILTER_COLUMNS, filters):
            codes = self._codes[column]
            self._columns[column][at] = [codes.setdefault(value, len(codes)) for value in values]
        self.newest_ms = max(self.newest_ms, int(max(times)))

    def remove(self, memory_id: str) -> None:
        """Forget the memory's row (it was deleted)."""
        at = self._positions.pop(memory_id, None)
        if at is not None:
            self._searchable -= int(self._live[at])
            self._live[at] = False
            self.live -= 1

    def _reserve(self, needed: int) -> None:
        capacity = len(self._ids)
        if needed <= capacity:
            return
        # A quarter to spare: the rows the embedding queue adds next do not copy the matrix each time.
        capacity = max(needed + needed // 4, 1024)
        vectors = np.empty((capacity, self.dimension), dtype=np.float32)
        vectors[: self.size] = self._vectors[: self.size]
        self._vectors = vectors
        self._ids = _grown(self._ids, capacity, self.size)
        self._live = _grown(self._live, capacity, self.size)
        self._columns = {c: _grown(a, capacity, self.size) for c, a in self._columns.items()}

    async def search(
        self, query: Sequence[float], filters: dict[str, str], threshold: float, limit: int
    ) -> list[tuple[str, float]]:
        """The ids of the `limit` best rows matching `filters` with cosine similarity >= `threshold`,
        best first, with their similarity. Scored on the event loop a block of `SCORE_BLOCK`
        components at a time, letting other tasks run between blocks."""
        if not self.live or limit <= 0:
            return []
        vector = unit_rows(np.asarray(query, dtype=np.float32).reshape(1, -1))[0]
        size = self.size  # once: a catch-up between two blocks may append rows
        rows = self._matching(filters, size)
        vectors = self._vectors[:size]  # this array, even if a catch-up grows the matrix meanwhile
        step = max(1, SCORE_BLOCK // self.dimension)
        if rows is None or len(rows) > size // 4:  # every row: cheaper than copying most of them out
            scores = np.empty(size, dtype=np.float32)
            for start in range(0, size, step):
                if start:
                    await asyncio.sleep(0)
                _scores(vectors[start : start + step], vector, scores[start : start + step])
            if rows is not None:
                scores = scores[rows]
        else:
            scores = np.empty(len(rows), dtype=np.float32)
            for start in range(0, len(rows), step):
                if start:
                    await asyncio.sleep(0)
                _scores(vectors[rows[start : start + step]], vector, scores[start : start + step])
        return self._best(rows, scores, threshold, limit)

    def _best(
        self, rows: npt.NDArray[np.intp] | None, scores: npt.NDArray[np.float32], threshold: float, limit: int
    ) -> list[tuple[str, float]]:
        """The best `limit` of the scores of `rows` (every row when None) at least `threshold`."""
        # The best `limit` first, then the threshold on those few: one pass over the scores.
        if len(scores) > limit:
            best = np.argpartition(scores, len(scores) - limit)[-limit:]
        else:
            best = np.arange(len(scores))
        best = best[scores[best] >= threshold]
        positions = best if rows is None else rows[best]
        # A row a catch-up removed or zeroed while this one scored is left out.
        kept = self._live[positions]
        positions, found = positions[kept], scores[best][kept]
        order = np.lexsort((self._ids[positions].astype(str), -found))  # ties: by id, so results are stable
        return [(str(self._ids[positions[i]]), float(found[i])) for i in order]

    def _matching(self, filters: dict[str, str], size: int) -> npt.NDArray[np.intp] | None:
        """The positions of the live rows among the first `size` matching every filter; None when
        that is all of them."""
        if not filters and self._searchable == size:
            return None
        mask = self._live[:size].copy()
        for column, value in filters.items():
            code = self._codes[column].get(value)
            if code is None:
                return np.empty(0, dtype=np.intp)
            mask &= self._columns[column][:size] == code
        return np.flatnonzero(mask)


A = TypeVar("A", bound=np.generic)


def _scores(vectors: npt.NDArray[np.float32], query: npt.NDArray[np.float32], out: npt.NDArray[np.float32]) -> None:
    _single_threaded_blas()
    np.dot(vectors, query, out=out)


@functools.cache
def _single_threaded_blas() -> None:
    """Make the process's OpenBLAS (numpy's) run on the calling thread. A matrix-vector product
    is bound by memory, not arithmetic, and on a busy machine OpenBLAS's threads wait on each
    other: 100k x 576 took 56-280 ms with its threads and 45 ms without on this 2-core box at a
    load of 8 (bench/store.py). Best effort, and only when OPENBLAS_NUM_THREADS is not set: the
    library is found among the process's mappings (Linux) by the function threadpoolctl calls."""
    if os.environ.get("OPENBLAS_NUM_THREADS"):
        return
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line}
    except OSError:
        return
    for path in paths:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SET_THREADS:
            if hasattr(library, name):
                getattr(library, name)(1)
                return


#: The names OpenBLAS builds give their set-threads function (numpy's wheels prefix theirs).
_SET_THREADS = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)


def _grown(values: npt.NDArray[A], capacity: int, size: int) -> npt.NDArray[A]:
    grown = np.zeros(capacity, dtype=values.dtype)
    grown[:size] = values[:size]
    return grown


def unit_rows(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Each row scaled to length 1 (zero rows stay zero), as float32."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):  # a row that is not finite comes out NaN
        return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32, copy=False)


class VectorIndex:
    """The matrices of one store: read on first search, caught up when their stamp changes."""

    def __init__(self, clock_margin_ms: int = 0) -> None:
        #: Rows written up to this long before the newest one read are read again when catching
        #: up: for another host, whose clock may be behind ours.
        self.clock_margin_ms = clock_margin_ms
        self._matrices: dict[Key, VectorMatrix] = {}
        self._locks: dict[Key, asyncio.Lock] = {}

    async def matrix(
        self,
        key: Key,
        stamp: Callable[[], Awaitable[Stamp]],
        load: Callable[[int], Awaitable[Sequence[Row]]],
    ) -> VectorMatrix:
        """The key's matrix as the database holds it now. `load(since_ms)` reads the rows written
        at or after `since_ms` (0: all). One catch-up at a time per key."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            current, count = await stamp()
            matrix = self._matrices.get(key)
            if matrix is not None and matrix.stamp == current:
                return matrix
            if matrix is not None:
                # On the loop: a search scoring on a worker thread meanwhile sees rows whole.
                matrix.merge(await load(max(matrix.newest_ms - self.clock_margin_ms, 1)))
            if matrix is None or (count is not None and matrix.live != count):
                matrix = VectorMatrix(key[2])  # new, or rows went missing: read them all
                await asyncio.to_thread(matrix.merge, await load(0))
            matrix.stamp = current
            self._matrices[key] = matrix
            return matrix

    def remove(self, agent_id: str, memory_id: str, model: str | None = None, keep_dimension: int = 0) -> None:
        """Forget a memory's rows in the agent's matrices (of `model` only, but for `keep_dimension`,
        when given: its vector was replaced by one of that dimension)."""
        for key, matrix in self._matrices.items():
            if key[0] == agent_id and (model is None or (key[1] == model and key[2] != keep_dimension)):
                matrix.remove(memory_id)

    def forget(self, agent_id: str | None = None) -> None:
        """Drop the matrices of `agent_id` (of every agent when None): the next search reads them whole."""
        for key in [k for k in self._matrices if agent_id is None or k[0] == agent_id]:
            del self._matrices[key]
