"""Rooms to partitions to hosts: pure functions, the same answer on every host.

A room's partition is a stable hash of "agent/room", so every host maps a message to the same
partition without asking anyone. A partition's desired owner is chosen by rendezvous
(highest-random-weight) hashing over the hosts that take work: every host computes the same
owner from the same list, and when a host joins or leaves only the partitions it wins or held
move (about 1/N of them), not a reshuffle of all.
"""

from __future__ import annotations

import hashlib
from typing import Iterable


def stable_hash(text: str) -> int:
    """A 64-bit hash of `text` that is the same in every process and on every machine (blake2b,
    8 bytes; Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def partition_of(agent_id: str, room_id: str, partitions: int) -> int:
    """The partition of agent `agent_id`'s room `room_id`, in [0, partitions)."""
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, not {partitions}")
    return stable_hash(f"{agent_id}/{room_id}") % partitions


def rendezvous_owner(partition: int, host_ids: Iterable[str]) -> str | None:
    """The host of `host_ids` with the highest weight for `partition`; None when there is none.
    Ties (a 64-bit collision) go to the greater host id, so the answer never depends on order."""
    best: tuple[int, str] | None = None
    for host_id in host_ids:
        weight = (stable_hash(f"{host_id}#{partition}"), host_id)
        if best is None or weight > best:
            best = weight
    return best[1] if best is not None else None


def assignment(host_ids: Iterable[str], partitions: int) -> dict[int, str]:
    """Every partition's desired owner among `host_ids` (empty when there are no hosts)."""
    hosts = sorted(set(host_ids))
    if not hosts:
        return {}
    return {p: owner for p in range(partitions) if (owner := rendezvous_owner(p, hosts)) is not None}
