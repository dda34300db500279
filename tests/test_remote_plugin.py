"""A plugin on another machine: TCP with mutual TLS, dialled by the host."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import grpc
import pytest
from agenthost.v1 import plugin_pb2, plugin_pb2_grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from support import FIXTURE, alive

from host.config import RemotePlugin, ServerTls
from host.plugins.manager import PluginConflict
from plugin_sdk import Content, Memory
from plugin_sdk.protocol import (
    ENV_APP_VERSIONS,
    ENV_LISTEN,
    ENV_TLS_CERT,
    ENV_TLS_CLIENT_CA,
    ENV_TLS_KEY,
    MAGIC_COOKIE_KEY,
    MAGIC_COOKIE_VALUE,
    parse_handshake,
)


def _issue(name: str, issuer_key, issuer_name, key, ca: bool = False, ip: str | None = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("agenthost test CA", ca_key, None, ca_key, ca=True)
    _write(tmp_path / "ca", ca, ca_key)
    for name, ip in (("plugin", "127.0.0.1"), ("host", "127.0.0.1")):
        key = ec.generate_private_key(ec.SECP256R1())
        _write(tmp_path / name, _issue(name, ca_key, ca.subject, key, ip=ip), key)
    return tmp_path


@pytest.fixture
def remote_plugin(pki: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    env = {
        **os.environ,
        MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE,
        ENV_APP_VERSIONS: "1",
        ENV_LISTEN: "127.0.0.1:0",
        ENV_TLS_CERT: str(pki / "plugin.crt"),
        ENV_TLS_KEY: str(pki / "plugin.key"),
        ENV_TLS_CLIENT_CA: str(pki / "ca.crt"),
        "AGENTHOST_TEST_NAME": "faraway",
    }
    proc = subprocess.Popen([sys.executable, str(FIXTURE)], env=env, stdout=subprocess.PIPE, text=True)
    handshake = parse_handshake(proc.stdout.readline(), (1,))
    assert handshake.network == "tcp"
    yield handshake.address, proc
    proc.terminate()
    proc.wait(timeout=10)


async def test_the_host_dials_a_remote_plugin_over_mutual_tls(start_host, pki, remote_plugin):
    address, proc = remote_plugin
    remote = RemotePlugin(
        name="faraway",
        address=address,
        ca_file=str(pki / "ca.crt"),
        cert_file=str(pki / "host.crt"),
        key_file=str(pki / "host.key"),
    )
    host = await start_host(remote=(remote,))
    status = {p.name: p for p in host.status().plugins}
    assert status["faraway"].transport == "tcp" and status["faraway"].address == address
    outcome = (await host.components.get_providers(["FARAWAY_ECHO"], Memory(content=Content(text="over tls"))))[0]
    assert outcome.result.text == "over tls"
    assert outcome.result.values["pid"] == proc.pid

    with pytest.raises(PluginConflict, match=f"plugin 'faraway' runs remotely at {address}: restart it there"):
        await host.plugins.reload("faraway")
    await host.plugins.unload("faraway")
    assert alive(proc.pid), "unloading a remote plugin must not stop its process"


async def test_a_client_without_a_certificate_is_refused(pki, remote_plugin):
    address, _ = remote_plugin
    credentials = grpc.ssl_channel_credentials((pki / "ca.crt").read_bytes())  # trusts the server, has no client cert
    async with grpc.aio.secure_channel(address, credentials) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await plugin_pb2_grpc.PluginServiceStub(channel).Describe(plugin_pb2.DescribeRequest(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_remote_plugins_callbacks_reach_the_host_over_tls(start_host, pki, remote_plugin):
    """The host's listener has a certificate: the remote plugin calls back encrypted, with its token."""
    address, _ = remote_plugin
    remote = RemotePlugin("faraway", address, str(pki / "ca.crt"), str(pki / "host.crt"), str(pki / "host.key"))
    host = await start_host(
        remote=(remote,), listen="127.0.0.1:0", tls=ServerTls(str(pki / "host.crt"), str(pki / "host.key"))
    )
    events = [e async for e in host.components.invoke_action("FARAWAY_CALLBACK_HOST", Memory(room_id="r"))]
    result = events[-1]
    assert result.success, result.error
    assert result.values["setting"] == "hello from settings"  # GetSetting answered over TLS
    assert result.values["recent"] == ["remember me"]
    async with grpc.aio.insecure_channel(host.address) as plain:  # the listener speaks TLS only
        with pytest.raises(grpc.aio.AioRpcError):
            await plugin_pb2_grpc.PluginServiceStub(plain).Describe(plugin_pb2.DescribeRequest(), timeout=2)
