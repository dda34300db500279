"""Getting an attachment's bytes from its URL: bounded in size and time, and only from where it may.

A message's sender chooses the URL, so a fetch is a request the host makes on a stranger's
behalf. By default only http(s) to public addresses (and inline data: URLs) are fetched: no
loopback, private, link-local or other special address (a cloud's metadata service, a database
beside the host), no local files. Each hop of a redirect is checked again, and the connection
goes to the address that was checked (the name is still used for the Host header and the TLS
certificate), so a name that resolves to a public address when checked and a private one when
connecting cannot slip through. The body is read in chunks and dropped once over `max_bytes`;
the whole fetch, redirects included, has one deadline.

httpx does the HTTP: async (nothing blocks the event loop), streaming, TLS verification and
HTTP/1.1 details done right; it is already installed with litellm.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import os
import re
import socket
import ssl
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, unquote_to_bytes, urlsplit

import httpx

from plugin_sdk.limits import quote

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_USERINFO = re.compile(r"//[^/@?#]*@")
_TLS: dict[Path | None, ssl.SSLContext] = {}  # by CA file, filled at first use


@dataclass(frozen=True)
class FetchPolicy:
    """Where attachments may be fetched from, and how much and how long a fetch may take."""

    #: A body larger than this many bytes is refused (the fetch stops reading it).
    max_bytes: int = 10 * 1024 * 1024
    #: Seconds for the whole fetch: resolving, connecting, every redirect and the body.
    timeout_s: float = 20.0
    #: Redirects followed before giving up.
    max_redirects: int = 5
    #: Fetch from loopback, private, link-local and other non-public addresses too.
    allow_private: bool = False
    #: Directories whose files (file:// URLs or absolute paths) may be read; none by default.
    file_roots: tuple[Path, ...] = ()
    #: CA certificates (PEM) that https servers are verified against instead of the system's.
    ca_file: Path | None = None


@dataclass(frozen=True)
class Fetched:
    """An attachment's bytes, the Content-Type they came with ("" when none) and a `name` (the
    file name or URL path) whose suffix can tell the type when nothing else does."""

    data: bytes
    content_type: str = ""
    name: str = ""


class FetchError(Exception):
    """An attachment that could not be fetched; the message says why, naming the URL."""


class Refused(FetchError):
    """The policy does not allow fetching this URL (its scheme, address or path)."""


class TooLarge(FetchError):
    """The body is over FetchPolicy.max_bytes."""


class TimedOut(FetchError):
    """The fetch took longer than FetchPolicy.timeout_s."""


class NotFetched(FetchError):
    """The fetch failed: an HTTP error status, a name that does not resolve, a refused connection,
    a malformed data: URL, a missing file."""


async def fetch(url: str, policy: FetchPolicy = FetchPolicy()) -> Fetched:
    """The bytes at `url` (http, https, data:, or file:// and absolute paths when the policy has
    file_roots), within the policy's limits; a FetchError subclass says why not."""
    scheme = urlsplit(url).scheme.lower() if "://" in url or url.startswith("data:") else ""
    if scheme == "data":
        return _data_url(url, policy.max_bytes)
    try:
        async with asyncio.timeout(policy.timeout_s):
            if scheme in ("http", "https"):
                return await _fetch_http(url, policy)
            if scheme == "file" or (not scheme and url.startswith("/")):
                return await _read_file(url, policy)
    except (TimeoutError, httpx.TimeoutException):
        raise TimedOut(f"{shown(url)} took longer than the {policy.timeout_s:g} s a fetch may take") from None
    raise Refused(
        f"{shown(url)}: only http, https and data: URLs are fetched"
        + (" (and files under the allowed directories)" if policy.file_roots else "")
    )


def shown(url: str) -> str:
    """`url` fit for a message or a log: no credentials, cut when long, data: URLs by their type."""
    if url.startswith("data:"):
        return f"a data: URL ({url[5:].partition(',')[0] or 'text/plain'})"
    return quote(without_credentials(url), 200)


def without_credentials(url: str) -> str:
    """`url` less any user name and password it carries."""
    return _USERINFO.sub("//", url, count=1)


async def _fetch_http(url: str, policy: FetchPolicy) -> Fetched:
    current = httpx.URL(url)
    # trust_env=False: no proxy from the environment, which would connect to the proxy instead of
    # the checked address; the redirects are followed here, each checked.
    async with httpx.AsyncClient(
        trust_env=False, follow_redirects=False, timeout=policy.timeout_s, verify=_tls(policy.ca_file)
    ) as client:
        for _ in range(policy.max_redirects + 1):
            response = await _get(client, current, await _checked_addresses(current, policy))
            try:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    current = current.join(response.headers["location"])
                    if current.scheme not in ("http", "https"):
                        raise Refused(f"{shown(url)} redirects to {shown(str(current))}, which is not http(s)")
                    continue
                if response.status_code != 200:
                    raise NotFetched(
                        f"{shown(str(current))} answered HTTP {response.status_code} {response.reason_phrase}".rstrip()
                    )
                data = await _body(response, policy.max_bytes, str(current))
                return Fetched(data, response.headers.get("content-type", ""), unquote(current.path))
            finally:
                await response.aclose()
    raise NotFetched(f"{shown(url)} redirects more than {policy.max_redirects} times")


def _tls(ca_file: Path | None) -> ssl.SSLContext:
    """The TLS context for `ca_file` (httpx's default trust when None), made once: loading a CA
    bundle takes tens of milliseconds, several times the rest of a small fetch."""
    context = _TLS.get(ca_file)
    if context is None:
        context = _TLS[ca_file] = ssl.create_default_context(cafile=ca_file) if ca_file else httpx.create_ssl_context()
    return context


async def _get(client: httpx.AsyncClient, url: httpx.URL, addresses: list[str]) -> httpx.Response:
    """GET `url` from the first of `addresses` that takes the connection (as a client given the
    name would try each address it resolves to), under the URL's own name."""
    for index, address in enumerate(addresses):
        request = client.build_request(
            "GET",
            url.copy_with(host=address),
            headers={"Host": url.netloc.decode("ascii"), "Accept-Encoding": "identity"},
            extensions={"sni_hostname": url.host} if url.scheme == "https" else {},
        )
        try:
            return await client.send(request, stream=True)
        except httpx.ConnectError as exc:
            if index + 1 < len(addresses):
                continue
            raise NotFetched(f"{shown(str(url))} could not be fetched: {exc or type(exc).__name__}") from None
        except httpx.TimeoutException:
            raise
        except httpx.HTTPError as exc:
            raise NotFetched(f"{shown(str(url))} could not be fetched: {exc or type(exc).__name__}") from None
    raise AssertionError("no address to try")  # _checked_addresses never returns an empty list


async def _body(response: httpx.Response, limit: int, url: str) -> bytes:
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        # Asked for identity; decoding a compressed body would need its own size bound.
        raise NotFetched(f"{shown(url)} came {encoding}-encoded, though an unencoded body was asked for")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"{shown(url)} is {int(declared)} bytes, over the limit of {limit}")
    data = bytearray()
    async for chunk in response.aiter_raw():
        data += chunk
        if len(data) > limit:
            raise TooLarge(f"{shown(url)} is over the limit of {limit} bytes (stopped reading)")
    return bytes(data)


async def _checked_addresses(url: httpx.URL, policy: FetchPolicy) -> list[str]:
    """The addresses `url`'s host resolves to that the policy allows; Refused when there are none."""
    host = url.host
    if not host:
        raise Refused(f"{shown(str(url))} has no host")
    try:
        candidates = [ipaddress.ip_address(host)]
    except ValueError:
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise NotFetched(f"{shown(str(url))}: the name {host} does not resolve ({exc.strerror or exc})") from None
        candidates = [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]
    allowed = list(dict.fromkeys(str(a) for a in candidates if policy.allow_private or is_public(a)))
    if allowed:
        return allowed
    raise Refused(
        f"{shown(str(url))}: {host} is a private or special address ({candidates[0]}); attachments are fetched "
        "from public addresses only unless [attachments] allow_private is set"
    )


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is on the public internet: not loopback, private, link-local, shared,
    reserved, multicast or unspecified (an IPv4-mapped IPv6 address is judged as its IPv4 one)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _data_url(url: str, limit: int) -> Fetched:
    header, comma, payload = url[5:].partition(",")
    if not comma:
        raise NotFetched(f"{shown(url)} has no comma before its data")
    encoded = header.lower().endswith(";base64")
    mime = header[: -len(";base64")] if encoded else header
    if encoded:
        payload = "".join(payload.split())
        if len(payload) // 4 * 3 > limit + 2:
            raise TooLarge(f"{shown(url)} holds about {len(payload) // 4 * 3} bytes, over the limit of {limit}")
        try:
            data = base64.b64decode(unquote(payload), validate=True)
        except binascii.Error:
            raise NotFetched(f"{shown(url)}: its base64 data is malformed") from None
    else:
        data = unquote_to_bytes(payload)
    if len(data) > limit:
        raise TooLarge(f"{shown(url)} holds {len(data)} bytes, over the limit of {limit}")
    return Fetched(data, mime or "text/plain")


async def _read_file(url: str, policy: FetchPolicy) -> Fetched:
    if url.startswith("/"):
        path = Path(url)
    else:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise Refused(f"{shown(url)}: a file URL on another machine is not read")
        path = Path(unquote(parts.path))
    if not policy.file_roots:
        raise Refused(f"{shown(url)}: local files are not read unless [attachments] file_roots allows a directory")
    return await asyncio.to_thread(_read_allowed, path, policy)


def _read_allowed(path: Path, policy: FetchPolicy) -> Fetched:
    real = path.resolve()  # symlinks followed: a link out of an allowed directory is refused
    if not any(real.is_relative_to(root.resolve()) for root in policy.file_roots):
        raise Refused(f"{shown(str(path))} is outside the directories attachments may be read from")
    try:
        if not stat.S_ISREG(real.stat().st_mode):  # a FIFO or device would block or never end
            raise Refused(f"{shown(str(path))} is not a regular file")
        with open(real, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > policy.max_bytes:
                raise TooLarge(f"{shown(str(path))} is {size} bytes, over the limit of {policy.max_bytes}")
            data = file.read(policy.max_bytes + 1)
    except OSError as exc:
        raise NotFetched(f"{shown(str(path))} cannot be read: {exc.strerror or exc}") from None
    if len(data) > policy.max_bytes:  # it grew while being read, or is not a regular file
        raise TooLarge(f"{shown(str(path))} is over the limit of {policy.max_bytes} bytes")
    return Fetched(data, "", PurePosixPath(real).name)
