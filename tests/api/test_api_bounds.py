"""What the API process keeps per request stays bounded over a long life (the soak's "memory
flat"): metric series, rate-limit buckets, cached themes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from api.main import create_app
from api.ratelimit import RateLimiter
from api.themecache import RunThemes
from voc.settings import VocSettings


def test_a_made_up_http_method_adds_no_metric_series() -> None:
    app = create_app(VocSettings(_env_file=None))
    client = TestClient(app)  # no lifespan: only the middleware and the router answer
    for i in range(5):
        assert client.request(f"FOO{i}", "/nowhere").status_code == 404
    client.get("/nowhere")
    metrics = generate_latest(app.state.metrics.registry).decode()
    requests = [m for m in metrics.splitlines() if m.startswith("voc_http_requests_total{")]
    assert sorted(requests) == [
        'voc_http_requests_total{method="GET",route="unmatched",status="404"} 1.0',
        'voc_http_requests_total{method="OTHER",route="unmatched",status="404"} 5.0',
    ]


def test_rate_limit_buckets_of_keys_gone_quiet_are_dropped() -> None:
    now = [1000.0]
    limiter = RateLimiter(per_minute=60, clock=lambda: now[0])
    for i in range(RateLimiter.SWEEP_MIN):
        limiter.charge(f"key-{i}")
    assert len(limiter._buckets) == RateLimiter.SWEEP_MIN
    now[0] += 2.0  # every bucket has refilled (one token a second)
    limiter.charge("active")
    assert list(limiter._buckets) == ["active"]
    # A key still being limited keeps its bucket through the next sweep.
    for _ in range(60):
        limiter.charge("busy")
    for i in range(RateLimiter.SWEEP_MIN - 2):
        limiter.charge(f"other-{i}")
    now[0] += 2.0
    limiter.charge("late")
    assert set(limiter._buckets) == {"busy", "late"}


class _Themes:
    """A ThemeSource with one theme per run, of the workspace the run id names."""

    def __init__(self) -> None:
        self.reads: list[str] = []

    def list_themes(self, run_id: str) -> list[Any]:
        self.reads.append(run_id)
        return [SimpleNamespace(theme_id="T-1", workspace_id=run_id.split(":")[0])]

    def get_theme(self, run_id: str, theme_id: str) -> Any:
        raise AssertionError("the cache answers every theme these tests ask for")


def test_the_themes_cache_keeps_two_runs_per_workspace() -> None:
    store = _Themes()
    cache = RunThemes(store)
    for run in range(10):
        cache.get(f"a:{run}")
        cache.get("b:0")
    assert list(cache._runs) == ["a:8", "a:9", "b:0"]
    assert store.reads.count("b:0") == 1, "the other workspace's current run stayed cached"
    cache.get("a:9")
    assert store.reads.count("a:9") == 1


def test_the_themes_cache_holds_at_most_max_runs() -> None:
    cache = RunThemes(_Themes())
    for ws in range(RunThemes.MAX_RUNS + 5):
        cache.get(f"w{ws}:0")
    assert len(cache._runs) == RunThemes.MAX_RUNS
    assert next(iter(cache._runs)) == "w5:0", "the least recently read went first"
