"""Needs over HTTP: theme responses carry the needs profile, themes filter and sort by it, the
units of a theme filter by intent, stage and signal, and GET .../needs ranks unstated needs."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api
from voc.keys import create_key

WS = "/v1/workspaces/acme"


@pytest.fixture
def read(api: Api) -> dict[str, str]:
    return api.headers("acme-read")


def _all_themes(api: Api, headers: dict[str, str], **params: object) -> list[dict]:
    response = api.client.get(f"{WS}/themes", params={"limit": 200, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_every_theme_carries_its_needs_and_sorts_by_priority(
    api: Api, read: dict[str, str]
) -> None:
    themes = _all_themes(api, read, level=0, sort="priority")
    assert themes
    priorities = [t["needs"]["priority"] for t in themes]
    assert priorities == sorted(priorities, reverse=True)
    for t in themes:
        n = t["needs"]
        assert 0 <= n["priority"] <= 100 and 0 <= n["need_gap"] <= 1
        assert abs(sum(n["intent_mix"].values()) - 1) < 1e-3
        assert n["intent"] == max(n["intent_mix"], key=n["intent_mix"].get)
    gaps = [t["needs"]["need_gap"] for t in _all_themes(api, read, level=0, sort="need_gap")]
    assert gaps == sorted(gaps, reverse=True)


def test_themes_filter_by_intent_stage_gap_and_unstated(api: Api, read: dict[str, str]) -> None:
    every = _all_themes(api, read, level=0)
    for intent in {t["needs"]["intent"] for t in every}:
        got = _all_themes(api, read, level=0, intent=intent)
        assert {t["theme_id"] for t in got} == {
            t["theme_id"] for t in every if t["needs"]["intent"] == intent
        }
    stage = every[0]["needs"]["stage"]
    assert {t["theme_id"] for t in _all_themes(api, read, level=0, stage=stage)} == {
        t["theme_id"] for t in every if t["needs"]["stage"] == stage
    }
    assert all(t["needs"]["need_gap"] >= 0.9 for t in _all_themes(api, read, min_gap=0.9))
    assert {t["theme_id"] for t in _all_themes(api, read, level=0, unstated=True)} == {
        t["theme_id"] for t in every if t["needs"]["unstated"]
    }
    bad = api.client.get(f"{WS}/themes", params={"stage": "nowhere"}, headers=read)
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"


def test_a_theme_detail_has_the_full_profile_that_adds_up(api: Api, read: dict[str, str]) -> None:
    theme = _all_themes(api, read, level=0, sort="size")[0]
    detail = api.client.get(f"{WS}/themes/{theme['theme_id']}", headers=read).json()
    profile = detail["needs_profile"]
    # Units submitted since the run count in the size at once, in the profile at the next run.
    assert 0 < profile["units"] <= theme["size"]
    for key in ("intents", "sentiments", "stages"):
        assert sum(profile[key].values()) == profile["units"]
    assert profile["priority"] == pytest.approx(sum(profile["priority_parts"].values()), abs=0.02)
    assert sum(profile["breakdowns"]["source"].values()) == profile["units"]
    assert profile["evidence"] + profile["requests"] <= profile["units"]


def test_theme_units_filter_by_intent_with_their_needs(api: Api, read: dict[str, str]) -> None:
    theme = _all_themes(api, read, level=0, sort="size")[0]
    url = f"{WS}/themes/{theme['theme_id']}/units"
    pains = api.client.get(url, params={"intent": "pain", "limit": 200}, headers=read).json()
    detail = api.client.get(f"{WS}/themes/{theme['theme_id']}", headers=read).json()
    # Submitted units are read at once, so there may be more pains than at the run.
    assert pains["count"] >= detail["needs_profile"]["intents"]["pain"] > 0
    assert all(u["needs"]["intent"] == "pain" for u in pains["data"])
    plain = api.client.get(url, headers=read).json()
    assert plain["count"] == theme["size"]
    assert all(u["needs"] is None for u in plain["data"])


def test_unstated_needs_are_ranked_with_evidence_quotes(api: Api, read: dict[str, str]) -> None:
    body = api.client.get(f"{WS}/needs", headers=read).json()
    assert body["run_id"] == api.store.current_run("acme").run_id
    flagged = [t for t in _all_themes(api, read, level=0) if t["needs"]["unstated"]]
    assert body["count"] == len(flagged) > 0
    scores = [n["unstated_score"] for n in body["data"]]
    assert scores == sorted(scores, reverse=True)
    assert [n["rank"] for n in body["data"]] == list(range(1, len(scores) + 1))
    for need in body["data"]:
        assert need["theme"]["needs"]["unstated"]
        assert need["need_statement"]
        assert 1 <= len(need["quotes"]) <= 5
        for quote in need["quotes"]:
            n = quote["needs"]
            assert n["intent"] == "pain" or {"workaround", "effort", "confusion"} & set(
                n["signals"]
            )
    _, token = create_key(api.store, "needs-empty", ["read"])
    empty = api.client.get(
        "/v1/workspaces/needs-empty/needs", headers={"Authorization": f"Bearer {token}"}
    )
    assert empty.json() == {"run_id": None, "data": [], "count": 0}


def test_submitted_units_come_back_with_their_needs(api: Api) -> None:
    response = api.client.post(
        f"{WS}/feedback",
        json={
            "records": [
                {"source": "ticket", "external_id": "N-1", "text": "提现三天了还没到账，太慢了！"},
                {"source": "review", "external_id": "N-2", "text": "Please add a dark mode."},
            ]
        },
        headers=api.headers("acme-submit"),
    )
    assert response.status_code == 200, response.text
    units = [item["units"][0] for item in response.json()["items"]]
    assert [(u["needs"]["intent"], u["needs"]["sentiment"]) for u in units] == [
        ("pain", "negative"),
        ("request", "neutral"),
    ]
