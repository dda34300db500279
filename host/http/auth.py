"""The HTTP face's bearer token: the gRPC public API's (`authorization: Bearer <token>`), so an
OpenAI client's `api_key` is the host's API token (`agenthost token` prints it)."""

from __future__ import annotations

from fastapi import Request

from plugin_sdk.auth import bearer_matches
from plugin_sdk.protocol import AUTH_METADATA_KEY, AUTH_SCHEME

from ..config import TOKEN_ENV
from .errors import AUTHENTICATION, ApiError

REFUSED = (
    "missing or wrong API token: send 'Authorization: Bearer <token>' (an OpenAI client's api_key; "
    f"`agenthost token` prints it on the host's machine, or set ${TOKEN_ENV})"
)


class TokenCheck:
    """A FastAPI dependency refusing requests without the host's token (401, OpenAI's shape)."""

    def __init__(self, token: str) -> None:
        self._expected = (AUTH_SCHEME + token).encode()

    async def __call__(self, request: Request) -> None:
        given = request.headers.get(AUTH_METADATA_KEY, "")
        if not bearer_matches(((AUTH_METADATA_KEY, given),), self._expected):
            raise ApiError(401, REFUSED, AUTHENTICATION, "invalid_api_key")
