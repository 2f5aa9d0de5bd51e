"""A real RFC 3161 time-stamping authority for tests: OpenSSL's `ts -reply` behind HTTP.

A root certificate authority and a TSA certificate (extended key usage timeStamping, critical)
are made with the `openssl` command in a temporary directory; each POSTed query is answered
by `openssl ts -reply`, exactly as a small authority would. Skipped with a reason when the
machine has no `openssl` binary.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.workers import free_port

CONFIG = """\
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = {dir}/serial
crypto_device = builtin
signer_cert = {dir}/tsa.crt
signer_key = {dir}/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _openssl(*args: str, cwd: Path, data: bytes | None = None) -> bytes:
    done = subprocess.run(
        ["openssl", *args], cwd=cwd, input=data, capture_output=True, check=True, timeout=30
    )
    return done.stdout


def make_authority(directory: Path, name: str = "Test TSA") -> Path:
    """Keys, certificates and configuration of one authority in `directory`; returns the
    root certificate's path (what AUDIT_TSA_CA_FILE names)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "serial").write_text("01\n")
    (directory / "tsa.cnf").write_text(CONFIG.format(dir=directory))
    (directory / "tsa.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=critical,timeStamping\n"
    )
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
        "-subj", f"/CN={name} Root", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory,
    )  # fmt: skip
    _openssl("req", *ec, "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", f"/CN={name}",
             cwd=directory)  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "tsa.crt", "-days", "3650", "-extfile", "tsa.ext",
        cwd=directory,
    )  # fmt: skip
    return directory / "ca.crt"


@dataclass
class Authority:
    url: str
    root: Path
    directory: Path
    answered: int = 0
    down: bool = False

    def reply(self, query: bytes) -> bytes:
        return _openssl(
            "ts", "-reply", "-config", str(self.directory / "tsa.cnf"),
            "-queryfile", "/dev/stdin", "-out", "/dev/stdout", cwd=self.directory, data=query,
        )  # fmt: skip


def serve(directory: Path) -> Iterator[Authority]:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl binary: the test time-stamping authority is OpenSSL's `ts`")
    authority = Authority(url="", root=make_authority(directory), directory=directory)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if authority.down or self.headers.get("Content-Type") != (
                "application/timestamp-query"
            ):
                self.send_response(503 if authority.down else 400)
                self.end_headers()
                return
            body = authority.reply(query)
            authority.answered += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    authority.url = f"http://127.0.0.1:{port}/tsr"
    try:
        yield authority
    finally:
        server.shutdown()
        server.server_close()
