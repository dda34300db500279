"""The OpenAI requests the HTTP face takes, as pydantic models: what FastAPI checks (a wrong type
is a 400 naming the field) and the OpenAPI schema shows. Fields OpenAI defines that agenthost
does not use are accepted and ignored (extra="allow"), so clients that send them work."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

ROOM_HEADER = "X-Agenthost-Room"
"""Names the conversation's room (else the `user` field does; else each request is a room of its own)."""
ROOM_HEADER_MAX = 256
MESSAGE_ID_HEADER = "X-Agenthost-Message-Id"
"""The message's id, chosen by the client (at most 128 characters, as SendMessageRequest.message_id):
a request sent again with it is not run again, its run is replayed (the same completion)."""


class TextPart(BaseModel):
    """A part of a message's content; only text parts carry anything to an agent."""

    model_config = ConfigDict(extra="allow")
    type: StrictStr
    text: StrictStr | None = None
    image_url: dict[str, StrictStr] | None = None


class ChatMessage(BaseModel):
    """One message of the conversation."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: StrictStr | list[TextPart] | None = None
    name: StrictStr | None = None

    def text(self) -> str:
        """The message's text (text parts joined by newlines)."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(p.text or "" for p in self.content or () if p.type == "text")

    def image_urls(self) -> list[str]:
        """The URLs of its image parts (the router's image description calls take them)."""
        if isinstance(self.content, str):
            return []
        return [p.image_url["url"] for p in self.content or () if p.type == "image_url" and p.image_url]


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: StrictBool = False


class ChatCompletionRequest(BaseModel):
    """POST /v1/chat/completions. `model`: an agent's name or id, `router` or `router/<quality>`."""

    model_config = ConfigDict(extra="allow")
    model: StrictStr = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    #: Names the sender, and the room when the X-Agenthost-Room header does not.
    user: StrictStr | None = Field(None, max_length=ROOM_HEADER_MAX)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int = Field(1, ge=1, le=1, description="one choice: an agent's run answers once")


class EmbeddingRequest(BaseModel):
    """POST /v1/embeddings. `model`: `router`, `router/<quality>`, or an agent (booked to it)."""

    model_config = ConfigDict(extra="allow")
    model: StrictStr = Field(min_length=1)
    input: StrictStr | list[StrictStr] = Field(min_length=1)
    encoding_format: Literal["float", "base64"] = "float"
    user: StrictStr | None = Field(None, max_length=256)
