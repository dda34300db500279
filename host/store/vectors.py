"""Exact similarity search over an agent's stored vectors, kept as one float32 matrix in memory.

Why exact and in memory: neither sqlite-vec (not on the package index this project installs
from) nor pgvector (absent from the PostgreSQL server here) can be relied on, and reading
100k vectors out of either database for each query costs far more than the 20 ms target. So
each (agent, model, dimension) gets a matrix of unit vectors, built from the database once
and rebuilt only when the database's vectors changed (the backend's `stamp` says so: cheap on
SQLite, an aggregate over an index on PostgreSQL, so other hosts' writes are seen too).
Scoring is one matrix-vector product in numpy on a worker thread, off the event loop.

A query's model and dimension select the matrix: vectors of another model or dimension are
never compared with it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Awaitable, Callable, Hashable, Sequence

import numpy as np
import numpy.typing as npt

from .rows import Row

#: The columns a search filters on, in the order the matrix keeps them.
FILTER_COLUMNS = ("table_name", "room_id", "world_id", "entity_id")


@dataclass(slots=True)
class VectorMatrix:
    """One agent's vectors of one model and dimension, with the columns searches filter on."""

    stamp: Hashable
    ids: npt.NDArray[np.object_]
    vectors: npt.NDArray[np.float32]  # rows are unit vectors (a zero vector stays zero)
    columns: dict[str, npt.NDArray[np.object_]]

    @classmethod
    def from_rows(cls, stamp: Hashable, found: Sequence[Row], dimension: int) -> "VectorMatrix":
        """The matrix of rows with memory_id, vector (float32 bytes) and the filter columns."""
        count = len(found)
        vectors = np.frombuffer(b"".join(bytes(r["vector"]) for r in found), dtype="<f4").reshape(count, dimension)
        return cls(
            stamp=stamp,
            ids=np.array([r["memory_id"] for r in found], dtype=object),
            vectors=unit_rows(vectors),
            columns={c: np.array([r[c] for r in found], dtype=object) for c in FILTER_COLUMNS},
        )

    def top(
        self, query: Sequence[float], filters: dict[str, str], threshold: float, limit: int
    ) -> list[tuple[str, float]]:
        """The ids of the `limit` best rows matching `filters` with cosine similarity >= `threshold`,
        best first, with their similarity."""
        if not len(self.ids) or limit <= 0:
            return []
        vector = unit_rows(np.asarray(query, dtype=np.float32).reshape(1, -1))[0]
        mask: npt.NDArray[np.bool_] | None = None
        for column, value in filters.items():
            hit = self.columns[column] == value
            mask = hit if mask is None else mask & hit
        if mask is None:
            rows, scores = np.arange(len(self.ids)), self.vectors @ vector
        else:
            rows = np.flatnonzero(mask)
            scores = self.vectors[rows] @ vector
        keep = scores >= threshold
        rows, scores = rows[keep], scores[keep]
        if len(scores) > limit:
            best = np.argpartition(-scores, limit - 1)[:limit]
            rows, scores = rows[best], scores[best]
        order = np.lexsort((self.ids[rows].astype(str), -scores))  # ties: by id, so results are stable
        return [(str(self.ids[rows[i]]), float(scores[i])) for i in order]


def unit_rows(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Each row scaled to length 1 (zero rows stay zero), as float32."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32, copy=False)


Key = tuple[str, str, int]  # agent, model, dimension


class VectorIndex:
    """The matrices of one store, loaded on first search and reloaded when their stamp changes."""

    def __init__(self) -> None:
        self._matrices: dict[Key, VectorMatrix] = {}
        self._locks: dict[Key, asyncio.Lock] = {}

    async def matrix(
        self,
        key: Key,
        stamp: Callable[[], Awaitable[Hashable]],
        load: Callable[[], Awaitable[Sequence[Row]]],
    ) -> VectorMatrix:
        """The key's matrix as the database holds it now; one load at a time per key."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            current = await stamp()
            cached = self._matrices.get(key)
            if cached is not None and cached.stamp == current:
                return cached
            found = await load()
            matrix = await asyncio.to_thread(VectorMatrix.from_rows, current, found, key[2])
            self._matrices[key] = matrix
            return matrix

    def forget(self, agent_id: str | None = None) -> None:
        """Drop the matrices of `agent_id` (of every agent when None): the next search reloads."""
        for key in [k for k in self._matrices if agent_id is None or k[0] == agent_id]:
            del self._matrices[key]
