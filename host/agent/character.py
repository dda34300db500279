"""The agent's character: an elizaOS character file, read as it is.

Both elizaOS shapes load. The current one (v1/v2): `name`, `username`, `system`, `bio` (a string
or a list), `messageExamples` (conversations whose messages name their speaker in `name`, with
`content.text` and `content.actions`), `postExamples`, `topics`, `adjectives`, `knowledge` (texts,
`{"path": ...}`, `{"directory": ...}`), `style` (`all`, `chat`, `post`), `plugins`, nested
`settings` (with `settings.secrets`), `secrets`, `templates`. The older one (v0) besides: `lore`,
messages naming their speaker in `user`, `content.action`, `clients`, `modelProvider`. Fields not
listed here are kept, as read, in `Character.extra`; `to_dict()` writes the character back as a
current file with them.

Where each field goes: see host/agent/persona.py (the prompt), `Character.settings` and
`Character.secrets` (what plugins read through GetSetting), `plugins` and `knowledge` (exposed for
the host to load and for ingestion).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from .json_fields import Field, FieldError

DEFAULT_CHARACTER = "characters/default.json"  # inside the host.agent package


class CharacterError(ValueError):
    """A character file that cannot be used; the message (one line) names the file and the field."""


@dataclass(frozen=True)
class ExampleMessage:
    """One message of an example conversation: who says it (a name, or a placeholder such as
    `{{user1}}`) and its content as written (`text`, `actions`, anything else; an older
    `action` becomes `actions`)."""

    speaker: str
    content: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        text = self.content.get("text")
        return text if isinstance(text, str) else ""

    @property
    def actions(self) -> tuple[str, ...]:
        actions = self.content.get("actions")
        return tuple(a for a in actions if isinstance(a, str)) if isinstance(actions, list) else ()


@dataclass(frozen=True)
class KnowledgeItem:
    """A knowledge source for ingestion: a text itself, or a file or directory (resolved against
    the character file's folder; `given` is the path as the file wrote it)."""

    kind: Literal["text", "file", "directory"]
    text: str = ""
    path: Path | None = None
    given: str = ""
    shared: bool = False


@dataclass(frozen=True)
class Style:
    """How the character writes: `all` everywhere, `chat` in conversations, `post` in posts."""

    all: tuple[str, ...] = ()
    chat: tuple[str, ...] = ()
    post: tuple[str, ...] = ()


@dataclass(frozen=True)
class Character:
    """A character, every field of its file in a typed place."""

    name: str
    username: str = ""
    id: str = ""  # the file's `id` (a UUID), if it gives one
    system: str = ""
    bio: tuple[str, ...] = ()
    lore: tuple[str, ...] = ()
    adjectives: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    message_examples: tuple[tuple[ExampleMessage, ...], ...] = ()
    post_examples: tuple[str, ...] = ()
    style: Style = Style()
    templates: dict[str, str] = field(default_factory=dict)  # e.g. messageHandlerTemplate, shouldRespondTemplate
    plugins: tuple[str, ...] = ()  # plugin names the agent needs
    knowledge: tuple[KnowledgeItem, ...] = ()
    clients: tuple[str, ...] = ()
    model_provider: str = ""  # `modelProvider`
    setting_values: dict[str, Any] = field(default_factory=dict)  # `settings` as written, less its secrets
    secrets: dict[str, str] = field(default_factory=dict)  # `settings.secrets` and `secrets`: only for granted plugins
    extra: dict[str, Any] = field(default_factory=dict)  # fields this loader does not know, as read
    source: Path | None = None  # the file it was read from

    @property
    def agent_id(self) -> str:
        """The file's `id`, else a stable id derived from the name."""
        return self.id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"agenthost:agent:{self.name}"))

    @property
    def settings(self) -> dict[str, str]:
        """The settings as plugins read them (GetSetting answers strings): a string as it is,
        any other value (number, boolean, nested object, list) as JSON."""
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in self.setting_values.items()}

    @property
    def model(self) -> str:
        """`settings.model`, the model the character asks for ("" when it names none)."""
        model = self.setting_values.get("model")
        return model if isinstance(model, str) else ""

    def is_agent(self, speaker: str) -> bool:
        """Whether an example message's speaker is this character (its name, username or the
        `{{agentName}}` placeholder)."""
        said = speaker.strip().casefold()
        return said in {self.name.casefold(), self.username.strip().casefold(), "{{agentname}}", "{{char}}"} - {""}

    def to_dict(self) -> dict[str, Any]:
        """The character as a current elizaOS file (older fields such as `lore` and `clients`
        and unknown ones kept), for writing back."""
        doc: dict[str, Any] = {"id": self.id, "name": self.name, "username": self.username, "system": self.system}
        doc.update(bio=list(self.bio), lore=list(self.lore), adjectives=list(self.adjectives))
        doc.update(topics=list(self.topics), postExamples=list(self.post_examples))
        doc["messageExamples"] = [[{"name": m.speaker, "content": m.content} for m in c] for c in self.message_examples]
        style = {"all": self.style.all, "chat": self.style.chat, "post": self.style.post}
        doc["style"] = {k: list(v) for k, v in style.items() if v}
        doc.update(templates=self.templates, plugins=list(self.plugins), clients=list(self.clients))
        doc["knowledge"] = [_knowledge_doc(k) for k in self.knowledge]
        doc["modelProvider"] = self.model_provider
        doc["settings"] = dict(self.setting_values)
        doc["secrets"] = dict(self.secrets)
        return {**{k: v for k, v in doc.items() if v not in ("", [], {})}, "name": self.name, **self.extra}


def load_character(path: Path | None) -> Character:
    """Read a character file, or the shipped default when `path` is None. Raises CharacterError."""
    where = str(path) if path else "(the default character)"
    try:
        if path is None:
            package = resources.files("host.agent")
            text = package.joinpath(DEFAULT_CHARACTER).read_text(encoding="utf-8")
            base = Path(str(package.joinpath(DEFAULT_CHARACTER))).parent
        else:
            text = path.read_text(encoding="utf-8")
            base = path.resolve().parent
        raw: Any = json.loads(text)
    except FileNotFoundError:
        raise CharacterError(f"character file {where} does not exist") from None
    except IsADirectoryError:
        raise CharacterError(f"character file {where} is a directory, not a JSON file") from None
    except OSError as exc:
        raise CharacterError(f"character file {where} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CharacterError(f"character file {where} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise CharacterError(f"character file {where} is not valid JSON: {exc}") from None
    try:
        return replace(parse_character(raw, base), source=path)
    except FieldError as exc:
        raise CharacterError(f"character file {where}: {exc}") from None


_KNOWN = {
    "id", "name", "username", "system", "bio", "lore", "adjectives", "topics", "messageExamples", "postExamples",
    "style", "templates", "plugins", "knowledge", "clients", "modelProvider", "settings", "secrets",
}  # fmt: skip


def parse_character(raw: Any, base: Path) -> Character:
    """A character from a parsed JSON document; relative knowledge paths are taken from `base`.
    Raises FieldError naming the field."""
    doc = Field(raw)
    if not isinstance(raw, dict):
        got = "a list" if isinstance(raw, list) else "no object"
        raise FieldError("", f"the file must hold a JSON object (got {got})")
    name = doc.key("name")
    if name.value is None:
        raise FieldError("name", "is missing: every character needs a name")
    if not name.text().strip():
        raise FieldError("name", "must not be empty")
    settings = doc.key("settings")
    setting_values = {} if settings.value is None else {k: v for k, v in settings.obj().items() if k != "secrets"}
    return Character(
        name=name.text().strip(),
        username=doc.key("username").string(),
        id=_uuid(doc.key("id")),
        system=doc.key("system").string(),
        bio=doc.key("bio").string_or_strings(),
        lore=doc.key("lore").string_or_strings(),
        adjectives=doc.key("adjectives").strings(),
        topics=doc.key("topics").strings(),
        message_examples=_conversations(doc.key("messageExamples")),
        post_examples=doc.key("postExamples").strings(),
        style=_style(doc.key("style")),
        templates=_templates(doc.key("templates")),
        plugins=doc.key("plugins").strings(),
        knowledge=tuple(_knowledge(item, base) for item in _list(doc.key("knowledge"))),
        clients=doc.key("clients").strings(),
        model_provider=doc.key("modelProvider").string(),
        setting_values=setting_values,
        secrets={**_secrets(settings.key("secrets")), **_secrets(doc.key("secrets"))},
        extra={k: v for k, v in raw.items() if k not in _KNOWN},
    )


def _list(f: Field) -> list[Field]:
    return [] if f.value is None else list(f.items())


def _uuid(f: Field) -> str:
    value = f.string()
    if value:
        try:
            uuid.UUID(value)
        except ValueError:
            raise f.fail("a UUID such as 2a3c1b58-5b8e-4c62-9f0e-0d1f3a6b9c11") from None
    return value


def _conversations(f: Field) -> tuple[tuple[ExampleMessage, ...], ...]:
    """`messageExamples`: a list of conversations, each a list of messages (or, as elizaOS v2
    also writes them, `{"examples": [...]}`)."""
    conversations = []
    for conversation in _list(f):
        if isinstance(conversation.value, dict) and "examples" in conversation.value:
            conversation = conversation.key("examples")
        messages = conversation.items('a list of messages, each {"name": ..., "content": {"text": ...}}')
        conversations.append(tuple(_message(m) for m in messages))
    return tuple(conversations)


def _message(f: Field) -> ExampleMessage:
    f.obj()
    speaker = f.key("name") if f.has("name") or not f.has("user") else f.key("user")
    if speaker.value is None:
        raise FieldError(f"{f.path}.name", "is missing: who says it (a name, or a placeholder such as {{user1}})")
    content = f.key("content")
    content.obj()
    content.key("text").string()
    content.key("actions").strings()
    written = dict(content.value)
    if "action" in written and "actions" not in written:  # the older single action, as a list
        action = content.key("action").string()
        written = {**{k: v for k, v in written.items() if k != "action"}, **({"actions": [action]} if action else {})}
    return ExampleMessage(speaker.text(), written)


def _style(f: Field) -> Style:
    if f.value is None:
        return Style()
    if isinstance(f.value, list):  # agenthost's earlier default character: a list of traits
        return Style(all=f.strings())
    if not isinstance(f.value, dict):
        raise f.fail('an object {"all": [...], "chat": [...], "post": [...]}')
    return Style(f.key("all").strings(), f.key("chat").strings(), f.key("post").strings())


def _templates(f: Field) -> dict[str, str]:
    if f.value is None:
        return {}
    return {name: f.key(name).text() for name in f.obj()}


def _secrets(f: Field) -> dict[str, str]:
    if f.value is None:
        return {}
    values = {name: f.key(name).scalar() for name in f.obj()}
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


def _knowledge(f: Field, base: Path) -> KnowledgeItem:
    if isinstance(f.value, str):
        return KnowledgeItem("text", text=f.value)
    if isinstance(f.value, dict) and ("path" in f.value or "directory" in f.value):
        kind: Literal["file", "directory"] = "file" if "path" in f.value else "directory"
        where = f.key("path" if kind == "file" else "directory")
        given = where.text()
        path = (base / given).resolve()
        if not path.exists():
            raise FieldError(where.path, f"names {path}, which does not exist")
        if kind == "file" and not path.is_file():
            raise FieldError(where.path, f"names {path}, which is not a file")
        if kind == "directory" and not path.is_dir():
            raise FieldError(where.path, f"names {path}, which is not a directory")
        return KnowledgeItem(kind, path=path, given=given, shared=f.key("shared").boolean())
    raise f.fail('a text, {"path": "file"} or {"directory": "folder"}')


def _knowledge_doc(item: KnowledgeItem) -> Any:
    if item.kind == "text":
        return item.text
    doc: dict[str, Any] = {"path" if item.kind == "file" else "directory": item.given}
    return {**doc, "shared": True} if item.shared else doc
