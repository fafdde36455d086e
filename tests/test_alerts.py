"""Webhook delivery against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from voc.alerts import DeliveryReport, post_alerts
from voc.errors import ConfigError
from voc.trends import Alert

ALERT = Alert(
    kind="spike",
    theme_id="T-0001",
    period=date(2026, 2, 2),
    label="2026-W06",
    count=40,
    baseline=10.0,
    p_value=4.7e-13,
    message="Spike in \u201c退款慢\u201d (T-0001): 40 mentions in 2026-W06.",
)


class Receiver(HTTPServer):
    """Answers each POST with the next status of `script`, then repeats the last one."""

    def __init__(self, script: list[int]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script = script
        self.bodies: list[bytes] = []
        self.content_types: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/voc"


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.bodies.append(body)
        self.server.content_types.append(self.headers["Content-Type"])
        script = self.server.script
        status = script[min(len(self.server.bodies), len(script)) - 1]
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    server = Receiver(request.param)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


class Clock:
    """Records the backoff delays while really sleeping them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        time.sleep(seconds)


@pytest.mark.parametrize("receiver", [[503, 502, 200]], indirect=True)
def test_delivery_retries_server_errors_with_exponential_backoff(receiver: Receiver) -> None:
    clock = Clock()
    report = post_alerts(
        receiver.url, [ALERT], workspace_id="acme", backoff=0.01, timeout=5, sleep=clock
    )
    assert report == DeliveryReport(True, 3, 200, None, 1)
    assert clock.delays == [0.01, 0.02]
    assert len(receiver.bodies) == 3
    assert len(set(receiver.bodies)) == 1
    assert receiver.content_types == ["application/json"] * 3
    assert json.loads(receiver.bodies[0]) == {
        "workspace_id": "acme",
        "count": 1,
        "alerts": [
            {
                "kind": "spike",
                "theme_id": "T-0001",
                "period": "2026-02-02",
                "label": "2026-W06",
                "count": 40,
                "baseline": 10.0,
                "p_value": 4.7e-13,
                "message": "Spike in \u201c退款慢\u201d (T-0001): 40 mentions in 2026-W06.",
            }
        ],
    }


@pytest.mark.parametrize("receiver", [[400]], indirect=True)
def test_client_error_is_not_retried(receiver: Receiver) -> None:
    report = post_alerts(receiver.url, [ALERT], backoff=0.01)
    assert report == DeliveryReport(False, 1, 400, "HTTP 400 Bad Request; not retried", 1)
    assert len(receiver.bodies) == 1


@pytest.mark.parametrize("receiver", [[429, 200]], indirect=True)
def test_rate_limited_delivery_is_retried(receiver: Receiver) -> None:
    report = post_alerts(receiver.url, [ALERT, ALERT], backoff=0.01)
    assert report == DeliveryReport(True, 2, 200, None, 2)


@pytest.mark.parametrize("receiver", [[500]], indirect=True)
def test_delivery_gives_up_after_the_retries(receiver: Receiver) -> None:
    report = post_alerts(receiver.url, [ALERT], retries=2, backoff=0.01)
    assert report == DeliveryReport(
        False, 3, 500, "HTTP 500 Internal Server Error after 3 attempts", 1
    )
    assert len(receiver.bodies) == 3


def test_unreachable_receiver_is_retried_and_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    report = post_alerts(f"http://127.0.0.1:{port}/hook", [ALERT], retries=1, backoff=0.01)
    assert (report.delivered, report.attempts, report.status_code) == (False, 2, None)
    assert report.error is not None
    assert report.error.startswith("ConnectError: ")
    assert report.error.endswith(" after 2 attempts")


@pytest.mark.parametrize("receiver", [[200]], indirect=True)
def test_no_alerts_sends_nothing(receiver: Receiver) -> None:
    assert post_alerts(receiver.url, []) == DeliveryReport(False, 0, None, None, 0)
    assert receiver.bodies == []


def test_malformed_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="must start with http:// or https://"):
        post_alerts("hooks.example.com/voc", [ALERT])
