"""A character's prompt templates: shouldRespondTemplate (or the default) for the decision to
answer, its parser and grammar; placeholders filled, unknown ones left visible."""

from __future__ import annotations

from pathlib import Path

import pytest
from llama_cpp import LlamaGrammar

from host.agent.character import Character, load_character
from host.agent.responses import ResponseError
from host.agent.should_respond import (
    DEFAULT_TEMPLATE,
    Decision,
    decision_grammar,
    parse_decision,
    should_respond_prompt,
)
from host.agent.templates import render

NOVA = Path(__file__).with_name("characters") / "nova.character.json"


def test_render_fills_known_placeholders_and_leaves_others_visible() -> None:
    text = render("Hi {{ agentName }}, {{who}} {{#each x}}{{/each}} {agentName}", {"agentName": "Nova"})
    assert text == "Hi Nova, {{who}} {{#each x}}{{/each}} {agentName}"


def test_the_default_decision_prompt_carries_the_character_and_the_context() -> None:
    captain = load_character(NOVA.with_name("captain.character.json"))
    prompt = should_respond_prompt(captain, "# ROOM\nthree people here", "deck")
    assert prompt.startswith("You decide for Captain Reyes whether to take part in a group conversation.")
    assert "# About Captain Reyes\nCaptain Reyes has sailed" in prompt
    assert "# ROOM\nthree people here" in prompt
    assert "STOP when someone asks Captain Reyes to be quiet" in prompt and "{{" not in prompt


def test_a_characters_should_respond_template_replaces_the_default() -> None:
    prompt = should_respond_prompt(load_character(NOVA), "# ROOM\nastronomy club", "club")
    assert prompt.startswith("Should Nova answer? # About Nova\nNova runs a small backyard observatory")
    assert prompt.endswith("# ROOM\nastronomy club Reply <response><action>RESPOND | IGNORE | STOP</action></response>")
    assert DEFAULT_TEMPLATE.split("\n")[0].replace("{{agentName}}", "Nova") not in prompt


@pytest.mark.parametrize(
    ("output", "decision"),
    [
        (
            "<response>\n<reasoning>they named me</reasoning>\n<action>RESPOND</action>\n</response>",
            Decision("RESPOND", "they named me"),
        ),
        # elizaOS's own shape: a <name> element, reasoning after it
        (
            "<response><name>Nova</name><reasoning>not for me &amp; off topic</reasoning>"
            "<action>ignore</action></response>",
            Decision("IGNORE", "not for me & off topic"),
        ),
        ("ok <response><action>STOP", Decision("STOP")),  # cut off by the token limit
    ],
)
def test_decisions_parse(output: str, decision: Decision) -> None:
    assert parse_decision(output) == decision


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("RESPOND", "no <response> element"),
        ("<response><reasoning>hm</reasoning></response>", "no <action> element"),
        ("<response><action>MAYBE</action></response>", "<action> is MAYBE, not RESPOND, IGNORE or STOP"),
    ],
)
def test_what_is_no_decision_says_why(output: str, reason: str) -> None:
    with pytest.raises(ResponseError) as info:
        parse_decision(output)
    assert str(info.value) == reason


def test_the_decision_grammar_compiles_and_names_the_three_actions() -> None:
    grammar = decision_grammar()
    LlamaGrammar.from_string(grammar, verbose=False)  # raises on a grammar llama.cpp cannot use
    assert 'action ::= "RESPOND" | "IGNORE" | "STOP"' in grammar


def test_a_template_is_the_characters_alone() -> None:
    bare = Character(name="Bare")
    assert should_respond_prompt(bare, "").startswith("You decide for Bare whether")
