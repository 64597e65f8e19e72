"""``--tls-cert``/``--tls-key``: HTTPS and WSS, as browsers need off localhost."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.media.conftest import Server


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_https_and_wss(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server = Server(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key))
    base = f"https://127.0.0.1:{server.port}"
    trust = ssl.create_default_context(cafile=str(cert))
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as http:
            async with http.get(f"{base}/healthz") as resp:
                assert resp.status == 200
                assert resp.headers["Strict-Transport-Security"] == "max-age=31536000"  # under TLS only
            async with http.post(f"{base}/api/links", json={"type": "audio"}) as resp:
                link = await resp.json()
            assert link["url"].startswith(f"{base}/call/")
            async with http.post(f"{base}/api/links/{link['token']}/join", json={"name": "Ann"}) as resp:
                grant = await resp.json()
            assert grant["ws_url"].startswith(f"wss://127.0.0.1:{server.port}/ws/")
            async with http.ws_connect(grant["ws_url"]) as ws:
                assert (await ws.receive_json(timeout=5))["type"] == "welcome"
            async with http.get(f"{base}/call/{link['token']}") as resp:
                assert resp.status == 200 and "text/html" in resp.headers["Content-Type"]
                assert resp.headers["Strict-Transport-Security"] == "max-age=31536000"
                assert f"connect-src 'self' wss://127.0.0.1:{server.port}" in resp.headers["Content-Security-Policy"]
    finally:
        server.stop()
