"""Deliver alerts to a webhook (a chat channel, an incident tool) as one JSON POST.

A webhook receiver is often briefly down or rate-limited, and an alert lost to a blip is an
anomaly nobody hears about, so delivery retries: on a connection error, a timeout, any 5xx
and 429 (the receiver asks to slow down), with exponential backoff (`backoff`,
`2 * backoff`, `4 * backoff` ...). Any other 4xx means the request itself is wrong (a bad
URL path, a missing token) and sending it again cannot succeed, so it stops at once.

Delivery never raises for a receiver's failure: the weekly run must finish and serve its
themes even when the webhook is down; the `DeliveryReport` says what happened and the
caller logs it. A malformed URL is a configuration mistake and raises `ConfigError`.

Payload: `{"workspace_id": ..., "count": n, "alerts": [Alert.to_dict(), ...]}`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from voc.errors import ConfigError
from voc.trends import Alert


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    delivered: bool
    attempts: int
    """Requests made; 0 when there was nothing to send."""
    status_code: int | None
    """Status of the last response; None when the last attempt got no response."""
    error: str | None
    """Why delivery failed, readable in a log line; None when delivered."""
    sent: int
    """Alerts in the payload."""


def post_alerts(
    url: str,
    alerts: Sequence[Alert],
    *,
    workspace_id: str | None = None,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    """POST `alerts` to `url`, retrying up to `retries` times after the first attempt.

    An empty list sends nothing. Pass `client` to reuse a connection pool or set headers
    (an auth token); otherwise a client is opened for this call.
    """
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"webhook URL must start with http:// or https://, got {url!r}")
    if retries < 0 or backoff < 0 or timeout <= 0:
        raise ConfigError(
            f"webhook retries and backoff must be >= 0 and timeout > 0; got retries={retries}, "
            f"backoff={backoff}, timeout={timeout}"
        )
    if not alerts:
        return DeliveryReport(delivered=False, attempts=0, status_code=None, error=None, sent=0)
    payload: dict[str, Any] = {
        "workspace_id": workspace_id,
        "count": len(alerts),
        "alerts": [a.to_dict() for a in alerts],
    }
    own = client is None
    http = client or httpx.Client()
    try:
        return _deliver(http, url, payload, retries, backoff, timeout, sleep)
    finally:
        if own:
            http.close()


def _deliver(
    http: httpx.Client,
    url: str,
    payload: dict[str, Any],
    retries: int,
    backoff: float,
    timeout: float,
    sleep: Callable[[float], None],
) -> DeliveryReport:
    sent = payload["count"]
    status: int | None = None
    error = ""
    for attempt in range(1, retries + 2):
        if attempt > 1:
            sleep(backoff * 2 ** (attempt - 2))
        try:
            response = http.post(url, json=payload, timeout=timeout)
        except httpx.TransportError as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"
            continue
        status = response.status_code
        if response.is_success:
            return DeliveryReport(True, attempt, status, None, sent)
        error = f"HTTP {status} {response.reason_phrase}".rstrip()
        if status < 500 and status != 429:
            return DeliveryReport(False, attempt, status, f"{error}; not retried", sent)
    return DeliveryReport(False, retries + 1, status, f"{error} after {retries + 1} attempts", sent)
