"""A document's text split into fragments for embedding: about `size` characters each, cut at
paragraph and sentence ends where it can, each starting with the last `overlap` characters' worth
of sentences of the one before, so a fact that straddles a cut is whole in one of them."""

from __future__ import annotations

import re

_PARAGRAPHS = re.compile(r"\n\s*\n")
_SENTENCE_ENDS = re.compile(r"(?<=[.!?;:])\s+|\n")


def split_fragments(text: str, size: int = 1000, overlap: int = 150) -> list[str]:
    """The fragments of `text`; none when it has no words. `overlap` must be below `size`."""
    if not 0 <= overlap < size:
        raise ValueError(f"a fragment's overlap ({overlap}) must be from 0 to below its size ({size})")
    units = [u for u in _units(text, size) if u]
    fragments: list[str] = []
    current: list[str] = []
    length = 0
    for unit in units:
        if current and length + 1 + len(unit) > size:
            fragments.append(" ".join(current))
            current, length = _tail(current, overlap, size - len(unit) - 1)
        current.append(unit)
        length += len(unit) + (1 if length else 0)
    if current:
        fragments.append(" ".join(current))
    return fragments


def _units(text: str, size: int) -> list[str]:
    """Sentences (and lines), whitespace collapsed; one longer than `size` cut at spaces."""
    found: list[str] = []
    for paragraph in _PARAGRAPHS.split(text):
        for sentence in _SENTENCE_ENDS.split(paragraph):
            sentence = " ".join(sentence.split())
            while len(sentence) > size:
                cut = sentence.rfind(" ", 0, size)
                cut = cut if cut > size // 2 else size
                found.append(sentence[:cut].strip())
                sentence = sentence[cut:].strip()
            found.append(sentence)
    return found


def _tail(units: list[str], overlap: int, room: int) -> tuple[list[str], int]:
    """The last units of a fragment, within `overlap` characters and the `room` the next unit leaves."""
    kept: list[str] = []
    length = 0
    for unit in reversed(units):
        grown = length + len(unit) + (1 if kept else 0)
        if grown > min(overlap, room):
            break
        kept.insert(0, unit)
        length = grown
    return kept, length
