"""Fetching attachments (host/agent/fetch.py) from a real local HTTP server, data: URLs and files."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from attachment_server import HTML, AttachmentServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from host.agent.fetch import FetchPolicy, NotFetched, Refused, TimedOut, TooLarge, _get, fetch, is_public, shown

LOCAL = FetchPolicy(allow_private=True)


@pytest.fixture
def server() -> Iterator[AttachmentServer]:
    with AttachmentServer() as running:
        yield running


async def test_a_url_is_fetched_with_its_content_type_and_path(server: AttachmentServer) -> None:
    got = await fetch(server.url("/page.html"), LOCAL)
    assert (got.data, got.content_type, got.name) == (HTML, "text/html; charset=utf-8", "/page.html")


async def test_the_connection_goes_to_the_checked_address_under_the_original_name(server: AttachmentServer) -> None:
    await fetch(server.url("/page.html", host="localhost"), LOCAL)
    assert server.requests == [("/page.html", f"localhost:{server.port}")]


async def test_private_and_loopback_addresses_are_refused_by_default_before_any_request(
    server: AttachmentServer,
) -> None:
    for host in ("127.0.0.1", "localhost"):
        with pytest.raises(Refused, match="private or special address .*allow_private"):
            await fetch(server.url("/page.html", host=host))
    assert server.requests == []


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # a cloud's metadata service
        ("100.64.0.1", False),  # shared address space
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:8.8.8.8", True),
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


async def test_a_body_over_the_limit_is_refused_while_it_is_read(server: AttachmentServer) -> None:
    small = FetchPolicy(allow_private=True, max_bytes=4096)
    with pytest.raises(TooLarge, match="over the limit of 4096 bytes \\(stopped reading\\)"):
        await fetch(server.url("/big"), small)
    with pytest.raises(TooLarge, match=f"is {1 << 30} bytes, over the limit of 4096"):
        await fetch(server.url("/declared-big"), small)


async def test_a_slow_server_runs_into_the_time_limit(server: AttachmentServer) -> None:
    with pytest.raises(TimedOut, match="took longer than the 0.5 s a fetch may take"):
        await fetch(server.url("/slow"), FetchPolicy(allow_private=True, timeout_s=0.5))


async def test_an_error_status_and_a_closed_port_are_clear(server: AttachmentServer) -> None:
    with pytest.raises(NotFetched, match="/missing' answered HTTP 404 Not Found$"):
        await fetch(server.url("/missing"), LOCAL)
    with socket.socket() as closed:  # bound, then closed: nothing listens there now
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(NotFetched, match="could not be fetched"):
        await fetch(f"http://127.0.0.1:{port}/x", LOCAL)


async def test_redirects_are_followed_checked_and_bounded(server: AttachmentServer) -> None:
    assert (await fetch(server.url("/to-page"), LOCAL)).data == HTML
    with pytest.raises(Refused, match="redirects to 'file:/+etc/passwd', which is not http"):
        await fetch(server.url("/to-file"), LOCAL)
    with pytest.raises(NotFetched, match="redirects more than 2 times"):
        await fetch(server.url("/loop"), FetchPolicy(allow_private=True, max_redirects=2))
    assert [path for path, _ in server.requests].count("/loop") == 3


async def test_an_encoded_body_is_refused_rather_than_inflated_unbounded(server: AttachmentServer) -> None:
    with pytest.raises(NotFetched, match="came gzip-encoded"):
        await fetch(server.url("/gzip"), LOCAL)


async def test_other_schemes_and_hostless_urls_are_refused() -> None:
    for url in ("ftp://example.org/x", "gopher://x/", "file:///etc/passwd", "relative/path", "/etc/passwd"):
        with pytest.raises(Refused):
            await fetch(url)
    with pytest.raises(Refused, match="has no host"):
        await fetch("http:///path")


async def test_data_urls_are_decoded_within_the_limit() -> None:
    got = await fetch("data:text/plain;charset=utf-8;base64,aGVsbG8gd29ybGQ=")
    assert (got.data, got.content_type) == (b"hello world", "text/plain;charset=utf-8")
    assert (await fetch("data:,a%20b")).data == b"a b"
    with pytest.raises(TooLarge):
        await fetch("data:;base64," + "QUFB" * 100, FetchPolicy(max_bytes=10))
    with pytest.raises(NotFetched, match="base64 data is malformed"):
        await fetch("data:image/png;base64,@@@")
    with pytest.raises(NotFetched, match="no comma"):
        await fetch("data:text/plain")


async def test_files_are_read_only_under_the_allowed_directories(tmp_path: Path) -> None:
    root, outside = tmp_path / "shared", tmp_path / "private"
    root.mkdir()
    outside.mkdir()
    (root / "a.md").write_text("# A")
    (outside / "secret.txt").write_text("secret")
    (root / "escape.txt").symlink_to(outside / "secret.txt")
    os.mkfifo(root / "pipe")
    policy = FetchPolicy(file_roots=(root,))

    with pytest.raises(Refused, match="local files are not read unless"):
        await fetch(str(root / "a.md"))
    assert (await fetch(str(root / "a.md"), policy)).data == b"# A"
    got = await fetch((root / "a.md").as_uri(), policy)
    assert (got.data, got.name) == (b"# A", "a.md")
    for path in (outside / "secret.txt", root / "escape.txt", root / ".." / "private" / "secret.txt"):
        with pytest.raises(Refused, match="outside the directories"):
            await fetch(str(path), policy)
    with pytest.raises(Refused, match="not a regular file"):
        await fetch(str(root / "pipe"), policy)
    with pytest.raises(NotFetched, match="cannot be read"):
        await fetch(str(root / "gone.txt"), policy)
    with pytest.raises(TooLarge):
        await fetch(str(root / "a.md"), FetchPolicy(file_roots=(root,), max_bytes=2))
    with pytest.raises(Refused, match="another machine"):
        await fetch("file://server/share/a.md", policy)


def test_urls_in_messages_carry_no_credentials() -> None:
    assert shown("https://user:secret@example.org/a?b=c@d") == "'https://example.org/a?b=c@d'"
    assert shown("data:image/png;base64,AAAA") == "a data: URL (image/png;base64)"


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for the name localhost (and nothing else), signed by itself, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder(subject_name=name, issuer_name=name, public_key=key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "localhost.pem", directory / "localhost.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_https_verifies_the_certificate_against_the_name_though_the_address_is_dialled(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    trusting = FetchPolicy(allow_private=True, ca_file=cert)
    with AttachmentServer(tls) as server:
        got = await fetch(server.url("/page.html", host="localhost"), trusting)
        assert got.data == HTML
        assert server.requests == [("/page.html", f"localhost:{server.port}")]
        # The certificate names localhost, not 127.0.0.1; and the system's CAs do not know it.
        with pytest.raises(NotFetched, match="could not be fetched: .*CERTIFICATE_VERIFY_FAILED"):
            await fetch(server.url("/page.html"), trusting)
        with pytest.raises(NotFetched, match="could not be fetched: .*CERTIFICATE_VERIFY_FAILED"):
            await fetch(server.url("/page.html", host="localhost"), LOCAL)


async def test_each_allowed_address_of_a_name_is_tried_in_turn(server: AttachmentServer) -> None:
    # Nothing listens on [::1] at the server's port (it listens on 127.0.0.1 only): tried first, refused.
    async with httpx.AsyncClient() as client:
        url = httpx.URL(f"http://localhost:{server.port}/page.html")
        response = await _get(client, url, ["::1", "127.0.0.1"])
        assert (response.status_code, await response.aread()) == (200, HTML)
        with pytest.raises(NotFetched, match="could not be fetched"):
            await _get(client, url, ["::1"])
    assert server.requests == [("/page.html", f"localhost:{server.port}")]
