"""Reading a parsed JSON document field by field, each value knowing its path.

A wrong value is reported with its JSON path (`messageExamples[2][0].content.text`) and what
was expected, so a user can find it in their file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator


class FieldError(ValueError):
    """A value of the wrong type or shape; `path` names it (empty for the whole document)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path} {problem}" if path else problem)
        self.path = path
        self.problem = problem


def kind(value: Any) -> str:
    """What a JSON value is, as a user would say it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {json.dumps(value[:40] + ('...' if len(value) > 40 else ''))}"
    if isinstance(value, list):
        return "a list"
    return "an object"


@dataclass(frozen=True)
class Field:
    """One value of the document and where it is."""

    value: Any
    path: str = ""

    def fail(self, expected: str) -> FieldError:
        return FieldError(self.path, f"must be {expected} (got {kind(self.value)})")

    def key(self, name: str) -> Field:
        """The member `name` of this object (None when absent, or when this value is)."""
        value = None if self.value is None else self.obj().get(name)
        return Field(value, f"{self.path}.{name}" if self.path else name)

    def has(self, name: str) -> bool:
        return name in self.obj()

    def obj(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            raise self.fail("an object")
        return self.value

    def items(self, expected: str = "a list") -> Iterator[Field]:
        """The elements of this list, each with its index in the path."""
        if not isinstance(self.value, list):
            raise self.fail(expected)
        return (Field(v, f"{self.path}[{i}]") for i, v in enumerate(self.value))

    def text(self) -> str:
        """A string, which must be there."""
        if not isinstance(self.value, str):
            raise self.fail("a string")
        return self.value

    def string(self, default: str = "") -> str:
        """A string; absent or null gives `default`."""
        return default if self.value is None else self.text()

    def strings(self) -> tuple[str, ...]:
        """A list of strings; absent or null gives ()."""
        return () if self.value is None else tuple(item.text() for item in self.items())

    def string_or_strings(self) -> tuple[str, ...]:
        """One string (one line) or a list of strings; absent or null gives ()."""
        if isinstance(self.value, str):
            return (self.value,) if self.value.strip() else ()
        if self.value is None or isinstance(self.value, list):
            return self.strings()
        raise self.fail("a string or a list of strings")

    def boolean(self, default: bool = False) -> bool:
        if self.value is None:
            return default
        if not isinstance(self.value, bool):
            raise self.fail("true or false")
        return self.value

    def scalar(self) -> str | int | float | bool:
        """A string, number or boolean."""
        if not isinstance(self.value, (str, int, float, bool)):
            raise self.fail("a string, a number or a boolean")
        return self.value
