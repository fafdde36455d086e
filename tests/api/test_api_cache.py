"""What the API keeps between requests never serves stale data (api/themecache.py,
api/keycache.py): a placed unit, a curation or a new run shows in the very next answer,
including changes made outside the app (another process writes the store directly, as
`voc curate`, `voc recluster` or a second `--workers` process do), and a revoked key is
refused at once. On a workspace of its own (the demo interviews, clustered here)."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from api.keycache import KeyCache
from api.themecache import RunAnswers, SharedReads
from tests.api.conftest import Api
from voc.embed import Embedder
from voc.errors import StoreError
from voc.keys import create_key
from voc.pipeline import Ingestor, curate, recluster
from voc.settings import CORPORA_DIR
from voc.store import KEY_REVOCATIONS, ApiKey, Store

WS = "/v1/workspaces/cache"


@dataclass
class Keys:
    read: dict[str, str]
    submit: dict[str, str]


@pytest.fixture(scope="module")
def keys(api: Api, embedder: Embedder) -> Iterator[Keys]:
    Ingestor(api.store, api.settings).ingest_paths(
        [CORPORA_DIR / "demo" / "interviews"], "interview", "cache"
    )
    recluster(api.store, api.settings, "cache", embedder)
    tokens = [create_key(api.store, "cache", [s], "cache tests")[1] for s in ("read", "submit")]
    yield Keys(*({"Authorization": f"Bearer {t}"} for t in tokens))


def _themes(api: Api, keys: Keys, **params: Any) -> dict[str, Any]:
    response = api.client.get(f"{WS}/themes", params={"limit": 200, **params}, headers=keys.read)
    assert response.status_code == 200, response.text
    return response.json()


def _sizes(body: dict[str, Any]) -> dict[str, int]:
    return {t["theme_id"]: t["size"] for t in body["data"]}


def _submit(api: Api, keys: Keys, texts: list[str], tag: str = "") -> list[dict[str, Any]]:
    records = [
        {"source": "ticket", "text": text, **({"external_id": f"{tag}-{i}"} if tag else {})}
        for i, text in enumerate(texts)
    ]
    response = api.client.post(f"{WS}/feedback", json={"records": records}, headers=keys.submit)
    assert response.status_code == 200, response.text
    return [u for item in response.json()["items"] for u in item["units"]]


def _expected(before: dict[str, Any], placed: Counter[str]) -> dict[str, int]:
    """Sizes after `placed` more units: level-0 themes counted, parents over their children."""
    sizes = {t["theme_id"]: t["size"] + placed[t["theme_id"]] for t in before["data"]}
    for theme in before["data"]:
        if theme["level"] == 1:
            kids = [t for t in before["data"] if t["parent_id"] == theme["theme_id"]]
            sizes[theme["theme_id"]] = sum(sizes[k["theme_id"]] for k in kids)
    return sizes


def test_a_submitted_unit_counts_in_the_very_next_answer(api: Api, keys: Keys) -> None:
    before = _themes(api, keys)
    zh_before = _sizes(_themes(api, keys, lang="zh", level=0))
    assert _themes(api, keys) == before, "a repeated request is answered the same"
    biggest = next(t for t in before["data"] if t["level"] == 0)
    detail = api.client.get(f"{WS}/themes/{biggest['theme_id']}", headers=keys.read).json()
    quote = next(q["text"] for q in detail["quotes"] if q["lang"] == "zh")

    units = _submit(api, keys, [quote])
    placed = Counter(u["theme_id"] for u in units if u["theme_id"])
    assert placed, units

    assert _sizes(_themes(api, keys)) == _expected(before, placed)
    zh_placed = Counter(u["theme_id"] for u in units if u["theme_id"] and u["lang"] == "zh")
    zh_after = _sizes(_themes(api, keys, lang="zh", level=0))
    for theme_id in set(zh_before) | set(zh_after):
        assert zh_after.get(theme_id, 0) == zh_before.get(theme_id, 0) + zh_placed[theme_id]
    for theme_id, n in placed.items():
        again = api.client.get(f"{WS}/themes/{theme_id}", headers=keys.read).json()
        assert again["size"] == _sizes(before)[theme_id] + n


def test_a_curation_made_elsewhere_is_served_at_once(
    api: Api, keys: Keys, embedder: Embedder
) -> None:
    before = _themes(api, keys, level=0)
    a, b, c = (t["theme_id"] for t in before["data"][:3])
    # Another process curates (`voc curate`): this store is not the app's.
    other = Store(api.store.url)
    try:
        curate(other, api.settings, "cache", "rename", a, "cli", name="缓存测试改名")
        named = {t["theme_id"]: t["name"] for t in _themes(api, keys, level=0)["data"]}
        assert named[a] == "缓存测试改名"
        assert api.client.get(f"{WS}/themes/{a}", headers=keys.read).json()["name"] == (
            "缓存测试改名"
        )

        # Words of b's that the live assigner places in b now ...
        detail = api.client.get(f"{WS}/themes/{b}", headers=keys.read).json()
        quote = next(
            q["text"]
            for q in detail["quotes"]
            if {u["theme_id"] for u in _submit(api, keys, [q["text"]], "before")} == {b}
        )
        before = _themes(api, keys, level=0)
        curate(other, api.settings, "cache", "merge", b, "cli", target_id=c)
        merged = _sizes(_themes(api, keys, level=0))
        assert b not in merged
        assert merged[c] == _sizes(before)[c] + _sizes(before)[b]
        # ... no longer land in b: the assigner's centroids follow the curation too.
        assert b not in {u["theme_id"] for u in _submit(api, keys, [quote], "after")}

        curate(other, api.settings, "cache", "hide", c, "cli")
        assert c not in _sizes(_themes(api, keys, level=0))
    finally:
        other.close()


def test_a_new_run_is_served_at_once(api: Api, keys: Keys, embedder: Embedder) -> None:
    first = _themes(api, keys)
    run, _ = recluster(api.store, api.settings, "cache", embedder, seed=1)
    second = _themes(api, keys)
    assert first["run_id"] != run.run_id and second["run_id"] == run.run_id
    assert {t["run_id"] for t in second["data"]} == {run.run_id}


def test_a_revoked_key_is_refused_at_once_though_it_was_just_used(api: Api) -> None:
    url = "/v1/workspaces/acme/themes"
    key, token = create_key(api.store, "acme", ["read"], "revoked while cached")
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(3):
        assert api.client.get(url, headers=headers).status_code == 200
    # Revoked through another Store object of this process, as `voc keys revoke` would.
    other = Store(api.store.url)
    try:
        other.revoke_api_key(key.id)
    finally:
        other.close()
    response = api.client.get(url, headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"


class _Keys:
    def __init__(self) -> None:
        self.reads = 0
        self.row = ApiKey("k1", "w", "", "hash", ["read"], datetime(2026, 1, 1, tzinfo=UTC))

    def get_api_key(self, key_id: str) -> ApiKey | None:
        self.reads += 1
        return self.row if key_id == "k1" else None


def test_the_key_cache_rereads_a_key_after_its_ttl_and_after_any_revocation() -> None:
    now = [100.0]
    store = _Keys()
    cache = KeyCache(ttl_s=1.0, clock=lambda: now[0])
    assert cache.cached("k1") is None
    assert cache.load(store, "k1") is store.row  # type: ignore[arg-type]
    now[0] += 0.5
    assert cache.cached("k1") is store.row and store.reads == 1
    # Revoked by another process: the row is trusted only until the TTL has passed.
    now[0] += 0.5
    assert cache.cached("k1") is None
    cache.load(store, "k1")  # type: ignore[arg-type]
    # Revoked by this process (any Store): forgotten at once.
    KEY_REVOCATIONS.note()
    assert cache.cached("k1") is None
    # Unknown keys are never kept; a TTL of 0 keeps nothing.
    assert cache.load(store, "nope") is None  # type: ignore[arg-type]
    assert cache.cached("nope") is None
    off = KeyCache(ttl_s=0)
    off.load(store, "k1")  # type: ignore[arg-type]
    assert off.cached("k1") is None


def test_answers_of_an_older_version_never_replace_newer_ones() -> None:
    answers = RunAnswers()
    new = SimpleNamespace(run_id="r", themes_version=0, live_version=2)
    old = SimpleNamespace(run_id="r", themes_version=0, live_version=1)
    assert answers.get(new, "q", lambda: "new") == "new"
    # A request that read the run before the last write may compute, but not keep, its answer;
    # it is given the newer one kept.
    assert answers.get(old, "q", lambda: "old") == "new"
    newer = SimpleNamespace(run_id="r", themes_version=1, live_version=2)
    assert answers.get(newer, "q", lambda: "newer") == "newer"
    assert answers.get(new, "q", lambda: "stale") == "newer"
    for i in range(RunAnswers.MAX_ENTRIES + 10):
        answers.get(new, i, lambda: 0)
    assert len(answers) == RunAnswers.MAX_ENTRIES
    big = bytes(RunAnswers.MAX_BYTES // 3)
    for i in range(4):
        answers.get(new, ("page", i), lambda: big)
    assert answers.peek(new, ("page", 0)) is None, "over the byte budget: least recent went"
    assert answers.peek(new, ("page", 3)) is big


def test_shared_reads_give_each_request_a_read_that_began_after_it_asked() -> None:
    calls: list[str] = []
    first_read_started, release = threading.Event(), threading.Event()

    def read(key: str) -> int:
        calls.append(key)
        if len(calls) == 1:
            first_read_started.set()
            assert release.wait(10)
        if key == "broken":
            raise StoreError("the database is down")
        return len(calls)

    reads: SharedReads[str, int] = SharedReads(read)

    async def main() -> tuple[int, list[int], list[int]]:
        first = asyncio.create_task(reads.get("w"))
        while not first_read_started.is_set():
            await asyncio.sleep(0.01)
        # These came while the first read ran: it may have missed what they expect to see,
        # so they share the next read, one for all of them.
        later = [asyncio.create_task(reads.get("w")) for _ in range(5)]
        await asyncio.sleep(0.05)
        release.set()
        answers = (await first, list(await asyncio.gather(*later)))
        failed = await asyncio.gather(
            *(reads.get("broken") for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(e, StoreError) for e in failed)
        return answers[0], answers[1], [await reads.get("w")]

    first, later, after = asyncio.run(main())
    assert (first, later) == (1, [2] * 5)
    # The three asking for "broken" at once shared one read, and its error.
    assert calls == ["w", "w", "broken", "w"] and after == [4]
