"""The agent's reply format: what parses, what does not and why."""

from __future__ import annotations

import pytest

from host.agent.character import Character, Style
from host.agent.responses import ActionChoice, ResponseError, parse_response, response_grammar, system_prompt

KNOWN = {"GET_WEATHER"}


def test_a_whole_reply_parses_with_its_actions_in_order() -> None:
    parsed = parse_response(
        "noise <response>\n<thought>user asks</thought>\n<actions>get_weather, REPLY</actions>\n"
        "<text>Paris &amp; Lyon: sunny</text>\n</response>",
        KNOWN,
    )
    assert (parsed.thought, parsed.actions, parsed.text) == (
        "user asks",
        ("GET_WEATHER", "REPLY"),
        "Paris & Lyon: sunny",
    )


def test_a_reply_cut_off_by_the_token_limit_keeps_what_it_said() -> None:
    parsed = parse_response("<response><thought>hm</thought><actions>REPLY</actions><text>It is sunny and", KNOWN)
    assert parsed.text == "It is sunny and"


def test_unknown_and_repeated_actions_are_dropped() -> None:
    parsed = parse_response("<response><actions>REPLY,LAUNCH_MISSILES,REPLY</actions><text>no</text>", KNOWN)
    assert parsed.actions == ("REPLY",)


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("Sure! It is sunny.", "no <response> element"),
        ("<response><text>hi</text></response>", "no <actions> element"),
        ("<response><actions>DANCE</actions><text>hi</text>", "no known action among ['DANCE']"),
        ("<response><actions>REPLY</actions><text>  </text>", "REPLY without <text>"),
    ],
)
def test_what_does_not_parse_says_why(output: str, reason: str) -> None:
    with pytest.raises(ResponseError) as info:
        parse_response(output, KNOWN)
    assert str(info.value) == reason


def test_the_grammar_names_only_offered_actions_and_skips_bad_names() -> None:
    grammar = response_grammar(["GET_WEATHER", "bad name", "REPLY"])
    assert 'action ::= "REPLY" | "GET_WEATHER"' in grammar


def test_the_system_prompt_carries_character_context_and_actions() -> None:
    character = Character(name="Ada", bio=("Ada helps.",), system="You are Ada.", style=Style(all=("brief",)))
    prompt = system_prompt(character, "# TIME\nnoon", [ActionChoice("GET_WEATHER", "weather for a city")])
    for part in (
        "You are Ada.",
        "# About Ada\nAda helps.",
        "# Message directions for Ada\n- brief",
        "# TIME\nnoon",
        "GET_WEATHER (weather for a city)",
    ):
        assert part in prompt


def test_offered_actions_show_their_example_conversations_in_reply_format() -> None:
    from host.agent.responses import ExampleTurn

    conversation = (ExampleTurn("user", "Weather in Lisbon?"), ExampleTurn("agent", "Sunny.", ("GET_WEATHER",)))
    choice = ActionChoice("GET_WEATHER", "weather for a city", (conversation,))
    prompt = system_prompt(Character(name="Ada"), "", [choice])
    assert (
        "Examples:\nuser: Weather in Lisbon?\n"
        "<response><thought>...</thought><actions>REPLY,GET_WEATHER</actions><text>Sunny.</text></response>"
    ) in prompt
    assert "Examples:" not in system_prompt(Character(name="Ada"), "", [ActionChoice("GET_WEATHER", "weather")])


def test_replys_own_examples_stay_out_and_the_characters_show_the_reply_format() -> None:
    from host.agent.character import ExampleMessage
    from host.agent.responses import ExampleTurn

    hello = (ExampleTurn("user", "Hello!"), ExampleTurn("agent", "Hi! How can I help?"))
    asked = (
        ExampleMessage("{{user1}}", {"text": "Who are you?"}),
        ExampleMessage("Ada", {"text": "I'm Ada.", "actions": ["REPLY"]}),
    )
    character = Character(name="Ada", message_examples=(asked,))
    prompt = system_prompt(character, "", [ActionChoice("REPLY", "answer", (hello,))])
    assert "How can I help" not in prompt  # a plugin's REPLY example would speak for the character
    assert "REPLY (answer)" in prompt
    assert (
        "# Example conversations with Ada\nuser: Who are you?\n"
        "<response><thought>...</thought><actions>REPLY</actions><text>I'm Ada.</text></response>"
    ) in prompt


def test_the_prompt_prefix_is_kept_per_character_and_never_shared():
    from host.agent import responses

    ada = Character(name="Ada", bio=("Ada helps.",), system="You are Ada.")
    first = responses.prompt_prefix(ada)
    assert responses.prompt_prefix(ada) is first  # built once, kept
    assert first == responses._prefix(ada)  # what building it again gives
    # Another character, even one equal to it field by field, has its own entry; a new object
    # at a reused address is told apart by identity, not taken for the old one.
    bob = Character(name="Bob", bio=("Bob builds.",), system="You are Bob.")
    assert "Bob" in responses.prompt_prefix(bob) and "Bob" not in first
    twin = Character(name="Ada", bio=("Ada helps.",), system="You are Ada.")
    assert responses.prompt_prefix(twin) == first
    responses._PREFIXES[id(bob)] = (ada, first)  # as if bob took the address of a character gone
    assert "Bob" in responses.prompt_prefix(bob)
