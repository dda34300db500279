"""The HTTP face's bearer token: the gRPC public API's (`authorization: Bearer <token>`), so an
OpenAI client's `api_key` is the host's API token (`agenthost token` prints it). The REST API
also takes it where a browser can put it: `?token=` (EventSource cannot set headers) or the
`agenthost_token` cookie the web page sets."""

from __future__ import annotations

from urllib.parse import unquote

from fastapi import Request

from plugin_sdk.auth import bearer_matches
from plugin_sdk.protocol import AUTH_METADATA_KEY, AUTH_SCHEME

from ..config import TOKEN_ENV
from .errors import AUTHENTICATION, ApiError

REFUSED = (
    "missing or wrong API token: send 'Authorization: Bearer <token>' (an OpenAI client's api_key; "
    f"`agenthost token` prints it on the host's machine, or set ${TOKEN_ENV})"
)
TOKEN_QUERY = "token"
TOKEN_COOKIE = "agenthost_token"
BROWSER_REFUSED = REFUSED.replace(
    "send 'Authorization", f"send ?{TOKEN_QUERY}=, the {TOKEN_COOKIE} cookie or 'Authorization"
)


class TokenCheck:
    """A FastAPI dependency refusing requests without the host's token (401, OpenAI's shape);
    with `browser`, the token may also come as `?token=` or the `agenthost_token` cookie."""

    def __init__(self, token: str, browser: bool = False) -> None:
        self._expected = (AUTH_SCHEME + token).encode()
        self._browser = browser

    async def __call__(self, request: Request) -> None:
        given = [request.headers.get(AUTH_METADATA_KEY, "")]
        if self._browser:
            extra = (request.query_params.get(TOKEN_QUERY, ""), unquote(request.cookies.get(TOKEN_COOKIE, "")))
            given += [AUTH_SCHEME + value for value in extra if value]
        # Each candidate compared in constant time (bearer_matches); any one may match.
        if not any(g and bearer_matches(((AUTH_METADATA_KEY, g),), self._expected) for g in given):
            raise ApiError(401, BROWSER_REFUSED if self._browser else REFUSED, AUTHENTICATION, "invalid_api_key")
