"""elizaOS character files, current (v1/v2) and older (v0), read as they are: every field in its
place, in the prompt where it belongs, kept when unknown, written back whole."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from host.agent import persona
from host.agent.character import Character, CharacterError, KnowledgeItem, Style, load_character
from host.agent.responses import ActionChoice, system_prompt

HERE = Path(__file__).with_name("characters")
NOVA = HERE / "nova.character.json"  # the current format, every field
CAPTAIN = HERE / "captain.character.json"  # the older format: lore, `user`, clients, modelProvider


def test_a_current_file_puts_every_field_in_its_place() -> None:
    nova = load_character(NOVA)
    assert (nova.name, nova.username, nova.source) == ("Nova", "nova_astro", NOVA)
    assert nova.agent_id == nova.id == "6f0c2a8e-3b1d-4c5e-9a7f-2d4b8e1c0f93"  # the file's id is the agent's
    assert nova.system.startswith("Roleplay as Nova")
    assert nova.bio == ("Nova runs a small backyard observatory and has logged every Messier object twice.",)
    assert nova.topics == ("astronomy", "telescopes", "light pollution")
    assert nova.adjectives == ("patient", "curious", "precise")
    assert nova.post_examples[1] == "Reminder: your eyes need twenty minutes to adapt to the dark."
    assert nova.style == Style(
        all=("Use plain words", "Mention where to look in the sky"),
        chat=("Answer in two sentences at most",),
        post=("Start with the date of the event",),
    )
    assert nova.plugins == ("@elizaos/plugin-sql", "skywatch")
    first, second = nova.message_examples
    assert [(m.speaker, m.text, m.actions) for m in second] == [
        ("{{name1}}", "Hey {{name2}}, ask Nova about Jupiter", ()),
        ("{{name2}}", "Nova, is Jupiter up tonight?", ()),
        ("Nova", "It rises around ten; look for the brightest point in Taurus.", ("REPLY", "SKY_CHART")),
    ]
    assert [nova.is_agent(m.speaker) for m in first] == [False, True]
    assert set(nova.templates) == {"messageHandlerTemplate", "shouldRespondTemplate"}
    assert nova.extra == {"advancedMemory": True, "links": {"site": "https://example.org/nova"}}


def test_settings_keep_their_types_and_secrets_go_to_secrets_only() -> None:
    nova = load_character(NOVA)
    assert nova.setting_values["temperature"] == 0.4
    assert nova.setting_values["observatory"] == {"lat": 48.85, "lon": 2.35, "public": False}
    assert nova.model == "gpt-4o-mini"
    assert "secrets" not in nova.setting_values and "secrets" not in nova.settings
    # What plugins read through GetSetting: strings, other values as JSON.
    assert nova.settings["avatar"] == "https://example.org/nova.png"
    assert nova.settings["temperature"] == "0.4"
    assert json.loads(nova.settings["voice"]) == {"model": "en_US-hfc_female-medium", "speed": 1.1}
    assert nova.secrets == {"SKYWATCH_API_KEY": "sk-sky-123", "RETRIES": "3", "OPENAI_API_KEY": "sk-top-456"}
    assert not any("sk-" in v for v in nova.settings.values())


def test_knowledge_is_a_typed_list_with_paths_resolved_from_the_file() -> None:
    assert load_character(NOVA).knowledge == (
        KnowledgeItem("text", text="The Andromeda galaxy is 2.5 million light years away."),
        KnowledgeItem("file", path=HERE.resolve() / "knowledge/nova-facts.md", given="knowledge/nova-facts.md"),
        KnowledgeItem("directory", path=HERE.resolve() / "knowledge/docs", given="knowledge/docs", shared=True),
    )


def test_an_older_file_loads_with_its_own_fields() -> None:
    captain = load_character(CAPTAIN)
    assert captain.name == "Captain Reyes"
    assert len(captain.bio) == 4 and captain.lore[1].startswith("Her parrot, Admiral")
    assert (captain.clients, captain.model_provider) == (("discord", "direct"), "anthropic")
    assert captain.knowledge[0] == KnowledgeItem("text", text="Beaufort force 8 is a gale: 34 to 40 knots.")
    (question, answer), (_, logged) = captain.message_examples
    assert (question.speaker, answer.speaker) == ("{{user1}}", "Captain Reyes")  # `user`, not `name`
    assert answer.text == "Barometer's dropping, {{user1}}. Batten down by noon."
    assert logged.actions == ("WRITE_LOG",)  # the older `content.action`
    assert captain.secrets == {"DISCORD_API_TOKEN": "discord-789"}
    assert captain.setting_values == {"voice": {"model": "en_GB-alan-low"}, "ragKnowledge": False}
    assert set(captain.extra) == {"people", "twitterProfile"}


def test_the_chat_prompt_carries_the_whole_character() -> None:
    captain = load_character(CAPTAIN)
    prompt = system_prompt(captain, "# TIME\nIt is dawn.", [ActionChoice("WRITE_LOG", "write in the logbook")], "r1")
    for part in (
        "You are Captain Reyes.",  # no `system`: the name stands in
        "# About Captain Reyes\nCaptain Reyes has sailed",  # bio and lore are short: all of them
        "Claims to have seen the green flash forty times.",
        "Captain Reyes is interested in sailing, weather, tides and navigation.",
        "# Message directions for Captain Reyes\n- Nautical slang\n- Short sentences\n- Calls people 'sailor'",
        # the examples in the reply format: the character answers as the model must
        "# Example conversations with Captain Reyes\nuser: Captain, will it storm tomorrow?\n"
        "<response><thought>...</thought><actions>REPLY</actions>"
        "<text>Barometer's dropping, Alex. Batten down by noon.</text></response>",  # {{user1}}: one name
        "<actions>REPLY,WRITE_LOG</actions><text>Aye, into the logbook it goes.</text>",
        "# TIME\nIt is dawn.",
        "WRITE_LOG (write in the logbook)",
        "<response><thought>",
    ):
        assert part in prompt
    adjectives = prompt.split("\nCaptain Reyes is ")[1].split(".")[0]
    assert len(re.split(", | and ", adjectives)) == persona.ADJECTIVES  # a sample: 3 of 5
    # Posts are not chats: their style and examples stay out of the chat prompt, and go to posts.
    assert "Ends with the tide time" not in prompt and "Fair winds today" not in prompt
    assert "- Ends with the tide time" in persona.directions(captain, "post")
    assert "Fair winds today. Tide turns at 14:10." in persona.examples(captain, "r1", "post")
    assert "{{" not in prompt


def test_a_long_bio_is_sampled_boundedly_and_stably_per_room() -> None:
    lines = tuple(f"Fact number {i} about the character, told at some length to fill the prompt." for i in range(40))
    character = Character(name="Long", bio=lines[:30], lore=lines[30:])
    first = persona.about(character, "room-a")
    assert first == persona.about(character, "room-a")  # the same room, the same lines
    assert len(first.splitlines()) == 1 + persona.ABOUT_LINES
    shown = [line for line in first.splitlines()[1:]]
    assert shown == sorted(shown, key=lines.index)  # in the file's order
    assert len({persona.about(character, f"room-{i}") for i in range(10)}) > 1  # other rooms, other samples


def test_example_conversations_are_bounded_and_their_placeholders_replaced() -> None:
    nova = load_character(NOVA)
    text = persona.examples(nova, "r1")
    assert "Alex: Hey Robin, ask Nova about Jupiter\nRobin: Nova, is Jupiter up tonight?" in text
    assert "(actions: REPLY, SKY_CHART)" in text
    many = Character(name="X", message_examples=nova.message_examples * 10)
    assert persona.examples(many, "r1").count("\n\n") + 1 == persona.EXAMPLES


def test_a_message_handler_template_replaces_the_prompt_with_its_placeholders_filled() -> None:
    nova = load_character(NOVA)
    prompt = system_prompt(nova, "# TIME\nIt is 22:00.", [ActionChoice("SKY_CHART", "draw the sky")], "r1")
    assert prompt.startswith("<task>Write the next message for Nova (@nova_astro).</task>\n# About Nova\n")
    for part in (
        "Topics: astronomy, telescopes, light pollution",
        "# Message directions for Nova\n- Use plain words",
        "Robin: Nova, is Jupiter up tonight?",
        "<providers>\n# About Nova",  # {{providers}}: the character's sections, then the providers'
        "# TIME\nIt is 22:00.\n</providers>",
        "Actions: REPLY, SKY_CHART",
        "Unknown stays: {{senderMood}}",  # not a placeholder we fill: left visible
    ):
        assert part in prompt
    assert "Answer in XML" not in prompt  # the template asks for <response> itself


def test_a_template_without_the_reply_format_gets_it_appended() -> None:
    character = Character(name="T", templates={"messageHandlerTemplate": "Be {{agentName}}. {{#if x}}"})
    assert system_prompt(character, "", []).startswith("Be T. {{#if x}}\n\nAnswer in XML: <response>")


def test_a_file_written_back_reads_the_same_and_keeps_unknown_fields(tmp_path: Path) -> None:
    shutil.copytree(HERE, tmp_path / "characters")
    for original in (NOVA, CAPTAIN):
        character = load_character(tmp_path / "characters" / original.name)  # knowledge paths resolve there too
        doc = character.to_dict()
        assert {k: doc[k] for k in character.extra} == {k: json.loads(original.read_text())[k] for k in character.extra}
        copy = tmp_path / "characters" / f"again-{original.name}"
        copy.write_text(json.dumps(doc))
        again = load_character(copy)
        assert again == replace(character, source=copy)
    # Older examples are written in the current shape: the speaker in `name`, `actions` a list.
    written = load_character(CAPTAIN).to_dict()["messageExamples"][1][1]
    content = {"text": "Aye, into the logbook it goes.", "actions": ["WRITE_LOG"]}
    assert written == {"name": "Captain Reyes", "content": content}


# -- the shipped default character --------------------------------------------

# elizaOS v1's character schema (packages/core/src/schemas/character.ts) as data: the fields a
# strict v1 file may have and their JSON types. Checked here independently of our loader.
V1_FIELDS = {
    "id": str,
    "name": str,
    "username": str,
    "system": str,
    "templates": dict,
    "bio": (str, list),
    "messageExamples": list,
    "postExamples": list,
    "topics": list,
    "adjectives": list,
    "knowledge": list,
    "plugins": list,
    "settings": dict,
    "secrets": dict,
    "style": dict,
}


def _v1_problems(doc: Any) -> list[str]:
    problems = [f"unknown field {k}" for k in doc if k not in V1_FIELDS]
    problems += [f"{k} has the wrong type" for k, t in V1_FIELDS.items() if k in doc and not isinstance(doc[k], t)]
    if not (isinstance(doc.get("name"), str) and doc["name"]):
        problems.append("name is required")
    if "bio" not in doc:
        problems.append("bio is required")
    for key in ("postExamples", "topics", "adjectives", "plugins"):
        problems += [f"{key} holds a non-string" for v in doc.get(key, []) if not isinstance(v, str)]
    for key in ("all", "chat", "post"):
        if not all(isinstance(v, str) for v in doc.get("style", {}).get(key, [])):
            problems.append(f"style.{key} holds a non-string")
    for conversation in doc.get("messageExamples", []):
        for m in conversation if isinstance(conversation, list) else [None]:
            ok = isinstance(m, dict) and isinstance(m.get("name"), str) and isinstance(m.get("content"), dict)
            ok = ok and isinstance(m["content"].get("text", ""), str) and set(m) <= {"name", "content"}
            ok = ok and all(isinstance(a, str) for a in m["content"].get("actions", []))
            problems += [] if ok else [f"bad example message {m!r}"]
    return problems


def test_the_shipped_default_is_a_valid_elizaos_v1_file() -> None:
    path = Path(__file__).parents[1] / "host/agent/characters/default.json"
    doc = json.loads(path.read_text())
    assert _v1_problems(doc) == []
    assert _v1_problems({**doc, "lore": []}) == ["unknown field lore"]  # the check can fail
    ada = load_character(None)
    assert ada.name == doc["name"] and ada.bio and ada.system and ada.style.chat
    # It answers "who are you?" by example, as itself.
    intro = next(c for c in ada.message_examples if "who are you" in c[0].text.lower())
    assert ada.is_agent(intro[1].speaker) and ada.name in intro[1].text


# -- broken files: one line naming the file and the field -----------------------


def _mutated(tmp_path: Path, change: Any) -> Path:
    doc = json.loads(NOVA.read_text())
    change(doc)
    path = tmp_path / "broken.json"
    shutil.copytree(HERE / "knowledge", tmp_path / "knowledge", dirs_exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


BROKEN: dict[str, tuple[Any, str]] = {
    "no name": (lambda d: d.pop("name"), "name is missing: every character needs a name"),
    "empty name": (lambda d: d.update(name="  "), "name must not be empty"),
    "bio a number": (lambda d: d.update(bio=5), "bio must be a string or a list of strings (got the number 5)"),
    "style a string": (lambda d: d.update(style="x"), 'style must be an object {"all": [...], "chat": [...], "post"'),
    "examples not lists of lists": (
        lambda d: d.update(messageExamples=[{"name": "a"}]),
        "messageExamples[0] must be a list of messages",
    ),
    "an example's text a number": (
        lambda d: d["messageExamples"][1][0]["content"].update(text=7),
        "messageExamples[1][0].content.text must be a string (got the number 7)",
    ),
    "an example without a speaker": (
        lambda d: d["messageExamples"][0][1].pop("name"),
        "messageExamples[0][1].name is missing",
    ),
    "a topic not a string": (lambda d: d["topics"].append(3), "topics[3] must be a string (got the number 3)"),
    "a missing knowledge file": (
        lambda d: d["knowledge"].append({"path": "nowhere.md"}),
        "knowledge[3].path names ",
    ),
    "a knowledge file that is a folder": (
        lambda d: d["knowledge"].append({"path": "knowledge"}),
        "which is not a file",
    ),
    "a secret that is an object": (
        lambda d: d["settings"]["secrets"].update(KEY={"a": 1}),
        "settings.secrets.KEY must be a string, a number or a boolean (got an object)",
    ),
    "settings a list": (lambda d: d.update(settings=[]), "settings must be an object (got a list)"),
    "a template not a string": (
        lambda d: d["templates"].update(shouldRespondTemplate=["x"]),
        "templates.shouldRespondTemplate must be a string (got a list)",
    ),
    "an id that is no UUID": (lambda d: d.update(id="nova-1"), "id must be a UUID"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_field_is_named_in_one_line(tmp_path: Path, case: str) -> None:
    change, expected = BROKEN[case]
    path = _mutated(tmp_path, change)
    with pytest.raises(CharacterError) as info:
        load_character(path)
    message = str(info.value)
    assert message.startswith(f"character file {path}: ") and expected in message
    assert "\n" not in message


def test_v2_example_groups_and_an_agent_placeholder_speaker_load(tmp_path: Path) -> None:
    doc = {
        "name": "Vee",
        "bio": ["Vee is new."],
        "messageExamples": [
            {"examples": [{"name": "{{user}}", "content": {"text": "hi"}}, {"name": "{{agentName}}", "content": {}}]}
        ],
    }
    path = tmp_path / "vee.json"
    path.write_text(json.dumps(doc))
    vee = load_character(path)
    ((question, answer),) = vee.message_examples
    assert (question.text, answer.text, vee.is_agent(answer.speaker)) == ("hi", "", True)
    assert persona.examples(vee, "r") == "# Example conversations with Vee\nAlex: hi"  # nothing said, not shown
