"""use_model(...) params as the router receives them."""

from __future__ import annotations

import base64

from agenthost.v1 import router_pb2

from host.agent.models import router_request


def test_transcription_audio_reaches_the_router_as_bytes() -> None:
    audio = b"RIFF\x00\x01wav bytes"
    params = {"audio": base64.b64encode(audio).decode(), "audio_format": "wav", "task_id": "run-1"}
    request = router_request("TRANSCRIPTION", params, "Ada")
    assert request.audio == audio and request.audio_format == "wav"
    assert request.meta.model_type == router_pb2.MODEL_TYPE_TRANSCRIPTION
    assert (request.meta.agent_name, request.meta.task_id) == ("Ada", "run-1")


def test_a_call_without_audio_sends_none() -> None:
    request = router_request("TEXT_SMALL", {"prompt": "hi"}, "Ada")
    assert request.audio == b"" and request.audio_format == "" and request.prompt == "hi"
