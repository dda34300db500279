"""The web page: plain HTML, CSS and JavaScript modules from host/http/static/, no build step.
`/` is the page and `/ui/...` its files. They hold no data and need no token: the page asks
for the token and sends it with each call to the API."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")
# The page runs only its own files; style attributes set by its scripts (bar widths) are allowed.
POLICY = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"
HEADERS = {"Cache-Control": "no-cache", "Content-Security-Policy": POLICY}


def mount_page(app: FastAPI) -> None:
    """Serve the page at `/` and its files under `/ui`."""

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=HEADERS)

    app.mount("/ui", StaticFiles(directory=STATIC), name="ui")
