"""host/ids.py: ids are UUID version 4 text, unique, and a forked child does not repeat its parent's."""

from __future__ import annotations

import os
import uuid

from host import ids


def test_ids_are_uuid4_text_and_unique() -> None:
    made = [ids.new_id() for _ in range(20_000)]  # several pools
    assert len(set(made)) == len(made)
    for text in made[:2_000]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_forked_child_draws_its_own() -> None:
    ids.new_id()  # the pool has digits left
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write its next id and leave at once
        os.write(write, ids.new_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert uuid.UUID(child).version == 4
    assert child != ids.new_id()
