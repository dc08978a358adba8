"""`rediss://` with `tls_ca_file`: the CLI verifies the server's certificate against the CA file."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from streamq_cli.main import app
from typer.testing import CliRunner

from streamq.embedded import EmbeddedServer, ServerStartError


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture
def certificates(tmp_path: Path) -> Path:
    """A private CA and a server certificate for 127.0.0.1 signed by it."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.crt", "-days", "1", "-subj", "/CN=streamq-test-ca", cwd=tmp_path)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
             "server.csr", "-subj", "/CN=127.0.0.1", cwd=tmp_path)  # fmt: skip
    (tmp_path / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "1", "-extfile", "san.ext",
             cwd=tmp_path)  # fmt: skip
    return tmp_path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def tls_url(make_server: Callable[..., EmbeddedServer], certificates: Path) -> Iterator[str]:
    """A server listening with TLS on loopback (and on its private unix socket)."""
    port = _free_port()
    try:
        make_server(
            extra_args=[
                "--tls-port", str(port),
                "--tls-cert-file", str(certificates / "server.crt"),
                "--tls-key-file", str(certificates / "server.key"),
                "--tls-ca-cert-file", str(certificates / "ca.crt"),
                "--tls-auth-clients", "no",
            ]
        )  # fmt: skip
    except ServerStartError as exc:
        pytest.skip(f"this server binary does not start with TLS: {str(exc)[:200]}")
    yield f"rediss://127.0.0.1:{port}"
    structlog.reset_defaults()


def test_rediss_verifies_the_certificate_against_tls_ca_file(
    tls_url: str, certificates: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("STREAMQ_CONFIG", "STREAMQ_JOB_QUEUE_URL", "STREAMQ_JOB_QUEUE_TLS_CA_FILE"):
        monkeypatch.delenv(var, raising=False)
    config = certificates / "streamq.toml"
    config.write_text(
        f'[job_queue]\nurl = "{tls_url}"\ntls_ca_file = "{certificates / "ca.crt"}"\n'
    )
    # With the CA file, the connection is verified and the command works
    trusted = CliRunner().invoke(app, ["inspect", "queues", "--config", str(config), "--json"])
    assert trusted.exit_code == 0, trusted.output
    assert trusted.stdout.strip() == "[]"
    # without it, the private CA is not trusted: one clear line, exit 1, nothing connects
    untrusted = CliRunner().invoke(app, ["inspect", "queues", "--url", tls_url])
    assert untrusted.exit_code == 1
    [line] = untrusted.stderr.strip().splitlines()
    assert line.startswith("streamq: error: Redis unavailable")
    assert "certificate verify failed" in line
