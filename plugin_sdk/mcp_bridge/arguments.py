"""A tool's arguments: asked of the model with the tool's input schema, checked against that
schema before the call. A call whose arguments do not fit is never sent: the model is told what
was wrong and asked once more, then the action fails saying why."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

ASKS = 2
"""Times the model is asked for a tool's arguments: once, and once more with the error."""
_SCHEMA_CHARS = 1500


@dataclass(frozen=True)
class Filled:
    """The arguments to send, or why there are none (`error`), and how many asks it took."""

    arguments: dict[str, Any] | None
    error: str = ""
    asks: int = 0


_validators: dict[int, tuple[dict[str, Any], Draft202012Validator | str]] = {}
"""Each schema's checked validator (or why the schema is not valid), by the schema object's id:
a tool's schema is checked once, not on every call (the entry keeps the schema, so the id
cannot be reused while the entry lives)."""
_MAX_VALIDATORS = 1024


def _validator(schema: dict[str, Any]) -> Draft202012Validator | str:
    """The schema's validator, built and checked once; a str says why the schema is not valid."""
    cached = _validators.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    try:
        Draft202012Validator.check_schema(schema)
        found: Draft202012Validator | str = Draft202012Validator(schema)
    except SchemaError as exc:
        found = f"the tool's input schema is not valid JSON Schema: {exc.message}"
    if len(_validators) >= _MAX_VALIDATORS:
        _validators.clear()
    _validators[id(schema)] = (schema, found)
    return found


def problem(schema: dict[str, Any], arguments: Any) -> str:
    """Why `arguments` do not fit `schema` ("" when they do): the first error, with its place."""
    if not isinstance(arguments, dict):
        return f"the arguments must be a JSON object, not {type(arguments).__name__}"
    validator = _validator(schema)
    if isinstance(validator, str):
        return validator
    if validator.is_valid(arguments):  # the common case: no errors to collect and sort
        return ""
    error = min(validator.iter_errors(arguments), key=lambda e: list(e.path))
    where = "/".join(str(p) for p in error.path)
    return f"{where}: {error.message}" if where else error.message


def takes_arguments(schema: dict[str, Any]) -> bool:
    """Whether the tool has parameters to fill (a schema with properties)."""
    return bool(schema.get("properties"))


def schema_text(schema: dict[str, Any]) -> str:
    """The schema, compact, as the prompts show it."""
    text = json.dumps(schema, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= _SCHEMA_CHARS else text[:_SCHEMA_CHARS] + "..."


def parse_object(text: str) -> Any:
    """The JSON object in a model's answer (its first `{` to its last `}`), else None."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        return json.loads(text[start : end + 1])
    except ValueError:
        return None


def messages(tool: str, description: str, schema: dict[str, Any], request: str, error: str) -> list[dict[str, str]]:
    """The model's prompt: the tool, its schema, the user's message; the last error when retried."""
    system = (
        f"You fill in the arguments of the tool {tool}: {description}\n"
        f"Its input JSON schema: {schema_text(schema)}\n"
        "Answer with one JSON object of arguments that fits the schema, and nothing else."
    )
    user = f"Message: {request}"
    if error:
        user += f"\nYour previous arguments were refused ({error}); answer again with arguments that fit the schema."
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


async def fill(
    ask: Callable[[list[dict[str, str]]], Awaitable[str]],
    tool: str,
    description: str,
    schema: dict[str, Any],
    request: str,
    given: Any = None,
) -> Filled:
    """The arguments for one call: `given` ones (the host passed them) when they fit, else the
    model's (`ask`), asked at most ASKS times; a misfit is never returned."""
    if given is not None:
        error = problem(schema, given)
        return Filled(given if not error else None, f"the given arguments do not fit: {error}" if error else "")
    if not takes_arguments(schema):
        empty: dict[str, Any] = {}
        error = problem(schema, empty)
        return Filled(empty, "") if not error else Filled(None, error)
    error = ""
    for asks in range(1, ASKS + 1):
        answer = await ask(messages(tool, description, schema, request, error))
        arguments = parse_object(answer)
        error = problem(schema, arguments) if arguments is not None else "the answer held no JSON object"
        if not error:
            return Filled(arguments, "", asks)
    return Filled(None, f"the model's arguments for {tool} do not fit its input schema ({error}); not sent", ASKS)
