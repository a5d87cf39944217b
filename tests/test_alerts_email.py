"""EmailChannel against a real SMTP server (aiosmtpd on 127.0.0.1): plain, AUTH, STARTTLS and implicit TLS."""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiosmtpd", reason="aiosmtpd is in the test extra: pip install -e '.[test]'")
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session  # noqa: E402

from spendtag.guard.alerts import Alert, Contributor, DeliveryError, Dispatcher, EmailChannel, channel_from_config  # noqa: E402
from spendtag.guard.alerts.message import render_text  # noqa: E402
from spendtag.money import parse_usd  # noqa: E402

# aiosmtpd warns when a test server takes AUTH without TLS: these tests do that on loopback on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

USER, PASSWORD = "alerts@agency.example", "smtp-pass-93c1"

ALERT = Alert(
    id="acme-retainer|2026-03|80%", kind="threshold", budget="acme-retainer", scope="client=acme", threshold="80%",
    spent=parse_usd("241.50"), limit=parse_usd("300"), period="2026-03", days_left=Decimal(17),
    projected=parse_usd("410"), contributors=(Contributor("agent", "planner", parse_usd("120")),),
    fired_at=datetime(2026, 3, 14, 10, tzinfo=UTC),
)
SUBJECT = "spendtag: acme-retainer at 80% ($241.50 of $300.00, 2026-03)"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage
    authenticated: bool
    tls: bool


class Inbox:
    def __init__(self) -> None:
        self.received: list[Received] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), message,
                                      bool(session.authenticated), _is_tls(server)))
        return "250 OK"


def _is_tls(server: SMTP) -> bool:
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == USER.encode() and data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 235 or 535 itself


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl CLI to make a self-signed certificate for the TLS tests")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., tuple[Inbox, int]]]:
    controllers: list[Controller] = []

    def start(**kwargs: Any) -> tuple[Inbox, int]:
        inbox, port = Inbox(), free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return inbox, port

    yield start
    for controller in controllers:
        controller.stop()


def _server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def _client_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def test_plain_smtp_delivers_the_alert_to_every_recipient(smtp_server: Callable[..., tuple[Inbox, int]]) -> None:
    inbox, port = smtp_server()
    channel = EmailChannel("mail", host="127.0.0.1", port=port, sender="spendtag@agency.example",
                           to=["ops@agency.example", "finance@agency.example"], timeout=5)
    channel.send(ALERT)
    [got] = inbox.received
    assert got.mail_from == "spendtag@agency.example"
    assert got.rcpt_tos == ["ops@agency.example", "finance@agency.example"]
    assert (got.authenticated, got.tls) == (False, False)
    msg = got.message
    assert msg["Subject"] == SUBJECT
    assert msg["From"] == "spendtag@agency.example"
    assert msg["To"] == "ops@agency.example, finance@agency.example"
    assert msg["X-Spendtag-Alert-Id"] == ALERT.id
    assert msg["Message-ID"].endswith("@agency.example>")
    body = msg.get_content().replace("\r\n", "\n")
    assert body.startswith(render_text(ALERT) + "\n\nAlert id: acme-retainer|2026-03|80%\n")
    assert "Spent $241.50 of $300.00 (80.5%)" in body


def test_auth_login_and_refused_password(smtp_server: Callable[..., tuple[Inbox, int]]) -> None:
    inbox, port = smtp_server(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    common: dict[str, Any] = {"host": "127.0.0.1", "port": port, "sender": USER, "to": ["ops@agency.example"],
                              "username": USER, "timeout": 5}
    EmailChannel("mail", password=PASSWORD, **common).send(ALERT)
    assert [r.authenticated for r in inbox.received] == [True]

    wrong = "not-the-password"
    with pytest.raises(DeliveryError) as info:
        EmailChannel("mail", password=wrong, **common).send(ALERT)
    assert str(info.value).startswith(f"email 'mail' via 127.0.0.1:{port}: login as '{USER}' refused: 535")
    assert info.value.retryable is False
    assert wrong not in str(info.value) and wrong not in repr(EmailChannel("mail", password=wrong, **common))
    assert len(inbox.received) == 1


def test_server_that_requires_auth_refuses_an_anonymous_channel(smtp_server: Callable[..., tuple[Inbox, int]]) -> None:
    inbox, port = smtp_server(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    with pytest.raises(DeliveryError, match=r"server answered 530"):
        EmailChannel("mail", host="127.0.0.1", port=port, sender=USER, to=["ops@agency.example"], timeout=5).send(ALERT)
    assert inbox.received == []


def test_starttls_with_auth(smtp_server: Callable[..., tuple[Inbox, int]], certificate: tuple[Path, Path]) -> None:
    inbox, port = smtp_server(tls_context=_server_tls(certificate), require_starttls=True,
                              authenticator=authenticator, auth_required=True, auth_require_tls=True)
    EmailChannel("mail", host="127.0.0.1", port=port, sender=USER, to=["ops@agency.example"], username=USER,
                 password=PASSWORD, starttls=True, timeout=5, ssl_context=_client_tls(certificate)).send(ALERT)
    [got] = inbox.received
    assert (got.authenticated, got.tls) == (True, True)
    assert got.message["Subject"] == SUBJECT


def test_starttls_checks_the_certificate(smtp_server: Callable[..., tuple[Inbox, int]],
                                         certificate: tuple[Path, Path]) -> None:
    inbox, port = smtp_server(tls_context=_server_tls(certificate), require_starttls=True)
    # The default context trusts the system's CAs only, so a self-signed server certificate is refused.
    with pytest.raises(DeliveryError, match=r"TLS failed: CERTIFICATE_VERIFY_FAILED"):
        EmailChannel("mail", host="127.0.0.1", port=port, sender=USER, to=["ops@agency.example"],
                     starttls=True, timeout=5).send(ALERT)
    assert inbox.received == []


def test_server_requiring_starttls_refuses_a_plain_channel(smtp_server: Callable[..., tuple[Inbox, int]],
                                                          certificate: tuple[Path, Path]) -> None:
    inbox, port = smtp_server(tls_context=_server_tls(certificate), require_starttls=True)
    with pytest.raises(DeliveryError, match=r"server answered 530"):
        EmailChannel("mail", host="127.0.0.1", port=port, sender=USER, to=["ops@agency.example"], timeout=5).send(ALERT)
    assert inbox.received == []


def test_implicit_tls(smtp_server: Callable[..., tuple[Inbox, int]], certificate: tuple[Path, Path]) -> None:
    # aiosmtpd counts only STARTTLS as TLS for auth_require_tls, so that check is off here; the socket is TLS.
    inbox, port = smtp_server(ssl_context=_server_tls(certificate), authenticator=authenticator,
                              auth_required=True, auth_require_tls=False)
    EmailChannel("mail", host="127.0.0.1", port=port, sender=USER, to=["ops@agency.example"], username=USER,
                 password=PASSWORD, ssl=True, timeout=5, ssl_context=_client_tls(certificate)).send(ALERT)
    [got] = inbox.received
    assert (got.authenticated, got.tls) == (True, True)
    assert got.message["Subject"] == SUBJECT


def test_configured_email_channel_through_the_dispatcher(smtp_server: Callable[..., tuple[Inbox, int]],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, port = smtp_server(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    monkeypatch.setenv("SPENDTAG_SMTP_PASSWORD", PASSWORD)
    channel = channel_from_config("mail", {
        "type": "email", "host": "127.0.0.1", "port": port, "from": USER, "to": "ops@agency.example",
        "username": USER, "password_env": "SPENDTAG_SMTP_PASSWORD", "timeout": 5,
    })
    results: list[tuple[str, bool, int, str | None]] = []
    with Dispatcher([channel], on_result=lambda a, c, ok, n, e: results.append((c, ok, n, e))) as dispatcher:
        assert dispatcher.submit(ALERT)
        assert dispatcher.flush(5)
    assert results == [("mail", True, 1, None)]
    assert [(r.rcpt_tos, r.authenticated) for r in inbox.received] == [(["ops@agency.example"], True)]


def test_unreachable_smtp_server_is_a_retryable_delivery_error() -> None:
    port = free_port()
    with pytest.raises(DeliveryError, match=rf"email 'mail' via 127.0.0.1:{port}: ConnectionRefusedError") as info:
        EmailChannel("mail", host="127.0.0.1", port=port, sender=USER, to=["ops@agency.example"], timeout=2).send(ALERT)
    assert info.value.retryable is True


def test_default_ports() -> None:
    def make(**kw: Any) -> EmailChannel:
        return EmailChannel("mail", host="smtp.example.com", sender=USER, to=["a@b.example"], **kw)

    assert (make().port, make(starttls=True).port, make(ssl=True).port) == (25, 587, 465)
    with pytest.raises(ValueError, match="starttls or ssl"):
        make(starttls=True, ssl=True)
