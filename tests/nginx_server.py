"""nginx in front of test processes, running the shipped deploy/nginx/safespace.conf.

The site config is used as shipped, with only what a deployment would change replaced:
the upstream ports, the listen addresses (loopback, free ports), the certificate (a
self-signed one made here for 127.0.0.1) and the error log path. Each replacement must
match, so a change to the shipped file that breaks this fails loudly. Under CI=true a
missing nginx fails the test instead of skipping it (the Makefile installs it).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import re
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from subprocesses import binary, end_process, free_port

SITE = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "safespace.conf"
START_TIMEOUT = 15.0


def nginx_binary() -> str:
    return binary("nginx", "/usr/sbin/nginx", "these tests run nginx in front of SafeSpace")


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _replace(text: str, pattern: str, replacement: str, expected: int) -> str:
    out, count = re.subn(pattern, replacement, text, flags=re.M)
    assert count == expected, f"deploy/nginx/safespace.conf changed: {pattern!r} matched {count}"
    return out


def site_config(
    upstreams: list[int], http_port: int, https_port: int, cert: Path, key: Path, log: Path
) -> str:
    text = SITE.read_text()
    servers = "".join(
        f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;\n" for port in upstreams
    )
    text = _replace(text, r"(?:^    server 127\.0\.0\.1:\d+ [^\n]*\n)+", servers, 1)
    text = _replace(text, r"^\s*listen \[::\]:\d+[^;]*;\n", "", 2)  # loopback IPv4 only
    text = _replace(text, r"^(\s*)listen 80;", rf"\g<1>listen 127.0.0.1:{http_port};", 1)
    text = _replace(text, r"^(\s*)listen 443 ssl", rf"\g<1>listen 127.0.0.1:{https_port} ssl", 1)
    text = _replace(text, r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", 1)
    text = _replace(text, r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", 1)
    return _replace(text, r"error_log /var/log/nginx/\S+", f"error_log {log}", 1)


@dataclass
class Front:
    """What clients see: one address for every process (quacks like a Process for Peer)."""

    name: str
    url: str  # https
    ws_url: str  # wss
    http_url: str  # plain http: redirects
    ssl: ssl.SSLContext  # trusts the test certificate
    alive: bool = True


class NginxServer:
    def __init__(self, directory: Path, upstreams: list[int]) -> None:
        self.binary = nginx_binary()
        self.dir = directory
        self.http_port, self.https_port = free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = directory / "nginx.log"
        cert, key = _self_signed(directory)
        for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (directory / temp).mkdir(exist_ok=True)
        (directory / "safespace.conf").write_text(
            site_config(
                upstreams, self.http_port, self.https_port, cert, key, directory / "site.log"
            )
        )
        as_root = "user root;\n" if os.geteuid() == 0 else ""  # workers read these files
        d = directory
        (directory / "nginx.conf").write_text(
            f"{as_root}worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\n"
            f"error_log {d}/error.log warn;\nevents {{ worker_connections 512; }}\n"
            f"http {{\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n"
            f"  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n"
            f"  scgi_temp_path {d}/scgi;\n  include {d}/safespace.conf;\n}}\n"
        )
        context = ssl.create_default_context(cafile=str(cert))
        self.front = Front(
            "nginx",
            f"https://127.0.0.1:{self.https_port}",
            f"wss://127.0.0.1:{self.https_port}/api/v1/ws",
            f"http://127.0.0.1:{self.http_port}",
            context,
        )

    async def start(self) -> None:
        d = self.dir
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once
                [self.binary, "-e", f"{d}/startup.log", "-p", str(d), "-c", f"{d}/nginx.conf"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while True:
            assert self.proc.poll() is None, f"nginx exited:\n{self.log_tail()}"
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.https_port)
                writer.close()
                return
            except OSError:
                assert loop.time() < deadline, f"nginx never listened:\n{self.log_tail()}"
                await asyncio.sleep(0.05)

    def stop(self) -> None:
        end_process(self.proc)

    def log_tail(self, chars: int = 3000) -> str:
        out = []
        for name in ("nginx.log", "startup.log", "error.log"):
            path = self.dir / name
            if path.exists():
                out.append(f"--- {name} ---\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(out)
