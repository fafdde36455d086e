"""Prometheus metrics in a registry per app (tests build several apps in one process), and the
ASGI middleware that times every request by its route template, never by its raw path.

Every label takes a bounded set of values, since each new value is a new series kept for the
life of the process: the route template (`unmatched` for any path no route has), the status,
and the method, where anything but the standard methods counts as `OTHER` (h11 accepts any
token as a method, so a client could otherwise mint a series per request)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "voc_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "voc_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.records = Counter(
            "voc_records_submitted",
            "Records submitted through the API by outcome.",
            ["status"],
            registry=self.registry,
        )
        self.units = Counter(
            "voc_units_ingested",
            "Feedback units stored from API submissions and uploads.",
            registry=self.registry,
        )
        self.run_duration = Histogram(
            "voc_run_duration_seconds",
            "Re-cluster job durations.",
            ["status"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800),
            registry=self.registry,
        )


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)
