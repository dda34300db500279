"""A character file through a real host: its fields reach the model's prompt through the pipeline,
its id is the agent's, and plugins read its settings (and only granted secrets) by GetSetting.
The model is tests/character_plugin.py, which answers with the system prompt it was given."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from agenthost.v1 import agent_pb2, agent_pb2_grpc, types_pb2
from support import api_channel

from host.agent.character import load_character
from host.config import Grant
from host.host import Host
from plugin_sdk import PluginSpec

HERE = Path(__file__).parent
CAPTAIN = HERE / "characters" / "captain.character.json"
NOVA = HERE / "characters" / "nova.character.json"
MIRROR = PluginSpec(name="mirror", version="1.0.0", command=(sys.executable, str(HERE / "character_plugin.py")))


async def prompt_seen(host: Host, text: str, room: str) -> str:
    """The system prompt the model got for `text` in `room` (the mirror model's reply)."""
    request = agent_pb2.SendMessageRequest(room_id=room, entity_id="user-1", content=types_pb2.Content(text=text))
    async with api_channel(host) as channel:
        events = [e async for e in agent_pb2_grpc.AgentServiceStub(channel).SendMessage(request, timeout=30)]
    replies = [e.content.text for e in events if e.event_type == "REPLY"]
    assert len(replies) == 1, [(e.event_type, e.content.text) for e in events]
    return replies[0]


async def test_an_older_characters_fields_reach_the_prompt_and_its_settings_the_plugins(start_host: Any) -> None:
    host = await start_host(MIRROR, character=CAPTAIN)
    assert host.agent_id == load_character(CAPTAIN).agent_id
    prompt = await prompt_seen(host, "ahoy", "deck")
    for part in (
        "You are Captain Reyes.",
        "Captain Reyes has sailed cargo ships across the Pacific for thirty years.",
        "Taught half the harbour's pilots how to read a barometer.",  # lore
        "Captain Reyes is interested in sailing, weather, tides and navigation.",
        "- Calls people 'sailor'",
        "user: Captain, will it storm tomorrow?",  # the examples, in the reply format
        "<actions>REPLY,WRITE_LOG</actions><text>Aye, into the logbook it goes.</text>",
        # Plugins read the character's settings as strings (nested ones as JSON)...
        'setting voice = {"model": "en_GB-alan-low"}',
        "setting ragKnowledge = false",
        # ...but a secret only with a grant.
        "setting DISCORD_API_TOKEN = None",
    ):
        assert part in prompt
    assert prompt == await prompt_seen(host, "and now?", "deck")  # the same room, the same character text


async def test_a_granted_plugin_reads_the_characters_secret(start_host: Any) -> None:
    host = await start_host(MIRROR, character=CAPTAIN, grants={"mirror": Grant(secrets=("DISCORD_API_TOKEN",))})
    assert "setting DISCORD_API_TOKEN = discord-789" in await prompt_seen(host, "ahoy", "deck")


async def test_a_characters_message_handler_template_is_the_prompt(start_host: Any, tmp_path: Path) -> None:
    # Nova names a plugin this test does not install: here it needs the mirror alone.
    shutil.copytree(NOVA.parent, tmp_path / "characters")
    nova = tmp_path / "characters" / NOVA.name
    nova.write_text(json.dumps({**json.loads(NOVA.read_text()), "plugins": ["mirror"]}))
    host = await start_host(MIRROR, character=nova)
    assert host.agent_id == "6f0c2a8e-3b1d-4c5e-9a7f-2d4b8e1c0f93"
    prompt = await prompt_seen(host, "what is up tonight?", "roof")
    assert prompt.startswith("<task>Write the next message for Nova (@nova_astro).</task>")
    assert "<providers>\n# About Nova" in prompt and "setting temperature = 0.4" in prompt
    assert "Actions: REPLY\n" in prompt and "{{senderMood}}" in prompt
