"""What both ends of a PluginService.Session stream share about its frames (PROTOCOL.md §8.1):
the size limit, batches (several frames in one message, sent when both ends said so), and
actions on the stream (sent when both ends said so)."""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

from .limits import MAX_RECEIVE_BYTES

FRAME_LIMIT = MAX_RECEIVE_BYTES - 64
"""The largest call or reply a Session frame carries (the rest is the frame's id and tags): a
larger frame would end the whole stream, and every call on it, with RESOURCE_EXHAUSTED."""

BATCHES_METADATA = ("agenthost-session-batches", "1")
"""Sent by the host when it opens a Session: it reads batched answers. A plugin's greeting
answers with `batches` set when it reads batched calls too."""

ACTIONS_METADATA = ("agenthost-session-actions", "1")
"""Sent by the host when it opens a Session: it can send actions on the stream (and read their
answers in several frames). A plugin's greeting answers with `actions` set when it serves them."""

F = TypeVar("F")


def groups(frames: Sequence[F], size: Callable[[F], int]) -> list[Sequence[F]]:
    """`frames` cut, in order, into groups to write one message each (a group of one as the
    frame itself, larger ones as a batch), each group under FRAME_LIMIT (each frame already is)."""
    if len(frames) == 1:
        return [frames]
    out: list[Sequence[F]] = []
    group: list[F] = []
    total = 0
    for frame in frames:
        n = size(frame) + 8  # the frame's tag and length inside the batch
        if group and total + n > FRAME_LIMIT:
            out.append(group)
            group, total = [], 0
        group.append(frame)
        total += n
    out.append(group)
    return out
