"""Reading themes, quotes, units and records of the clustered demo interviews."""

from __future__ import annotations

import csv

from tests.api.conftest import Api
from voc.settings import CORPORA_DIR

WS = "/v1/workspaces/acme"


def _demo_gold() -> list[dict[str, str]]:
    with (CORPORA_DIR / "demo" / "gold.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _get(api: Api, path: str, **params: object) -> dict:
    response = api.client.get(f"{WS}{path}", params=params, headers=api.headers("acme-read"))
    assert response.status_code == 200, response.text
    return response.json()


def test_themes_are_paginated_with_a_total_count(api: Api) -> None:
    run = api.store.current_run("acme")
    assert run is not None
    everything = _get(api, "/themes", limit=200)
    first = _get(api, "/themes", limit=3)
    second = _get(api, "/themes", limit=3, offset=3)
    stored = api.store.list_themes(run.run_id)
    assert everything["count"] == first["count"] == len(stored)
    assert everything["run_id"] == run.run_id
    assert [t["theme_id"] for t in first["data"] + second["data"]] == [
        t["theme_id"] for t in everything["data"][:6]
    ]
    sizes = [t["size"] for t in everything["data"]]
    assert sizes == sorted(sizes, reverse=True)


def test_theme_filters_count_only_matching_units(api: Api) -> None:
    children = _get(api, "/themes", level=0, limit=200)["data"]
    zh = {
        t["theme_id"]: t["size"]
        for t in _get(api, "/themes", level=0, lang="zh", limit=200)["data"]
    }
    en = {
        t["theme_id"]: t["size"]
        for t in _get(api, "/themes", level=0, lang="en", limit=200)["data"]
    }
    for theme in children:
        assert zh.get(theme["theme_id"], 0) + en.get(theme["theme_id"], 0) == theme["size"]
    assert _get(api, "/themes", source="survey") == {
        "data": [],
        "count": 0,
        "run_id": api.store.current_run("acme").run_id,
    }
    parent = next(t for t in _get(api, "/themes", level=1)["data"])
    kids = _get(api, "/themes", parent=parent["theme_id"], limit=200)["data"]
    assert kids and all(k["parent_id"] == parent["theme_id"] for k in kids)
    assert sum(k["size"] for k in kids) == parent["size"]


def test_recency_sort_puts_the_newest_units_first(api: Api) -> None:
    themes = _get(api, "/themes", sort="recency", level=0, limit=200)["data"]
    latest = [t["latest_at"] for t in themes if t["latest_at"]]
    assert latest == sorted(latest, reverse=True)


def test_theme_detail_has_keywords_children_quotes_and_weekly_counts(api: Api) -> None:
    parent = _get(api, "/themes", level=1)["data"][0]
    detail = _get(api, f"/themes/{parent['theme_id']}")
    kids = _get(api, "/themes", parent=parent["theme_id"], limit=200)["data"]
    assert sorted(detail["children"]) == sorted(t["theme_id"] for t in kids)
    assert set(detail["keywords"]) <= {"zh", "en"} and detail["keywords"]
    units = []
    while len(units) < detail["size"]:
        page = _get(api, f"/themes/{parent['theme_id']}/units", limit=200, offset=len(units))
        units += page["data"]
    assert len(units) == detail["size"]
    dated = sum(u["created_at"] is not None for u in units)
    assert sum(w["count"] for w in detail["weekly"]) == dated
    weeks = [w["week"] for w in detail["weekly"]]
    assert weeks == sorted(set(weeks))
    child = _get(api, f"/themes/{detail['children'][0]}")
    assert (child["parent_id"], child["children"], child["run_id"]) == (
        parent["theme_id"],
        [],
        detail["run_id"],
    )
    assert child["quotes"] and child["name"]


def test_quotes_point_at_the_exact_text_of_their_record(api: Api) -> None:
    theme = _get(api, "/themes", level=0)["data"][0]
    quotes = _get(api, f"/themes/{theme['theme_id']}/quotes")
    assert quotes["count"] == len(quotes["data"]) > 0
    for quote in quotes["data"]:
        record = _get(api, f"/records/{quote['record_id']}")
        start, end = quote["span"]
        assert record["text"][start:end] == quote["text"]
    english = _get(api, f"/themes/{theme['theme_id']}/quotes", lang="en")
    assert [q for q in quotes["data"] if q["lang"] == "en"] == english["data"]


def test_units_search_finds_text_in_either_script(api: Api) -> None:
    found = _get(api, "/units", q="手续费", limit=200)
    assert found["count"] == len(found["data"]) > 0
    assert all("手续费" in u["text"] for u in found["data"])
    assert all(u["theme_id"] for u in found["data"] if not u["provisional"])
    traditional = _get(api, "/units", q="手續費", limit=200)
    assert traditional["count"] == found["count"]
    # "%" is searched for literally (not as a LIKE wildcard): only units that contain it.
    percent = _get(api, "/units", q="%", limit=200)
    interviews = [r["text"] for r in _demo_gold() if r["file"].startswith("interviews/")]
    assert sorted(u["text"] for u in percent["data"]) == sorted(
        {text for text in interviews if "%" in text}
    )
    assert percent["count"] < sum(1 for _ in api.store.iter_units("acme"))


def test_a_record_shows_its_text_with_unit_spans(api: Api) -> None:
    unit = _get(api, "/units", q="手续费")["data"][0]
    record = _get(api, f"/records/{unit['record_id']}")
    assert record["source"] == "interview"
    assert unit["unit_id"] in [u["unit_id"] for u in record["units"]]
    for u in record["units"]:
        start, end = u["span"]
        assert record["text"][start:end] == u["text"]


def test_unknown_theme_and_record_are_404_problems(api: Api) -> None:
    for path in ("/themes/T-9999", "/themes/T-9999/units", "/records/nope"):
        response = api.client.get(f"{WS}{path}", headers=api.headers("acme-read"))
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "record 'nope' not found in workspace 'acme'"
