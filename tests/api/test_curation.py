"""Curation over HTTP (admin scope) on a workspace of its own (the demo interviews, clustered
once here): each change shows at once in the served themes and survives a re-cluster."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import Api
from voc.embed import Embedder
from voc.keys import create_key
from voc.pipeline import Ingestor, recluster
from voc.settings import CORPORA_DIR

WS = "/v1/workspaces/cur"


@pytest.fixture(scope="module")
def admin(api: Api, embedder: Embedder) -> Iterator[dict[str, str]]:
    Ingestor(api.store, api.settings).ingest_paths(
        [CORPORA_DIR / "demo" / "interviews"], "interview", "cur"
    )
    recluster(api.store, api.settings, "cur", embedder)
    _, token = create_key(api.store, "cur", ["admin"], "curation tests")
    yield {"Authorization": f"Bearer {token}"}


def _themes(api: Api, headers: dict[str, str]) -> dict[str, dict]:
    response = api.client.get(f"{WS}/themes", params={"limit": 200}, headers=headers)
    assert response.status_code == 200, response.text
    return {t["theme_id"]: t for t in response.json()["data"] if t["level"] == 0}


def _post(api: Api, headers: dict[str, str], path: str, body: object = None) -> httpx.Response:
    return api.client.post(f"{WS}/themes/{path}", json=body, headers=headers)


def test_rename_merge_split_and_hide_apply_at_once_and_survive_a_recluster(
    api: Api, admin: dict[str, str], embedder: Embedder
) -> None:
    before = _themes(api, admin)
    a, b, c, d = sorted(before, key=lambda t: (-before[t]["size"], t))[:4]

    renamed = _post(api, admin, f"{a}/rename", {"name": "提现到账慢"})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["kind"], renamed.json()["theme_id"]) == ("rename", a)
    assert renamed.json()["created_by"] == api.store.list_api_keys("cur")[0].id

    merged = _post(api, admin, f"{b}/merge", {"target_id": c})
    assert merged.status_code == 200, merged.text
    units = api.client.get(f"{WS}/themes/{d}/units", params={"limit": 2}, headers=admin)
    moved = [u["unit_id"] for u in units.json()["data"]]
    split = _post(api, admin, f"{d}/split", {"name": "拆出来的", "unit_ids": moved})
    assert split.status_code == 200, split.text
    new_id = split.json()["theme_id"]
    assert new_id not in before and int(new_id[2:]) > max(int(t[2:]) for t in before)
    assert _post(api, admin, f"{d}/hide").status_code == 200

    after = _themes(api, admin)
    assert after[a]["name"] == "提现到账慢"
    assert b not in after and d not in after
    assert after[c]["size"] == before[b]["size"] + before[c]["size"]
    assert (after[new_id]["name"], after[new_id]["size"]) == ("拆出来的", 2)
    gone = api.client.get(f"{WS}/themes/{b}", headers=admin)
    assert gone.status_code == 404

    recluster(api.store, api.settings, "cur", embedder, seed=1)
    again = _themes(api, admin)
    assert again[a]["name"] == "提现到账慢"
    assert b not in again and d not in again
    assert (again[new_id]["name"], again[new_id]["size"]) == ("拆出来的", 2)
    history = api.client.get(f"{WS}/themes/{a}", headers=admin).json()["history"]
    assert [(e["kind"], e["detail"]) for e in history] == [
        ("born", ""),
        ("curated", "renamed to '提现到账慢'"),
        ("continued", ""),
        ("curated", "renamed to '提现到账慢'"),
    ]


def test_curation_errors_are_problem_json(api: Api, admin: dict[str, str]) -> None:
    theme = next(iter(_themes(api, admin)))
    missing = _post(api, admin, "T-9999/rename", {"name": "x"})
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == "theme 'T-9999' is not a theme of the current run"
    itself = _post(api, admin, f"{theme}/merge", {"target_id": theme})
    assert itself.status_code == 422
    assert itself.json()["detail"] == f"theme {theme} cannot be merged into itself"
    empty = _post(api, admin, f"{theme}/rename", {"name": ""})
    assert empty.status_code == 422


def test_alerts_list_the_current_run(api: Api, admin: dict[str, str]) -> None:
    response = api.client.get(f"{WS}/alerts", headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["run_id"] == api.store.current_run("cur").run_id
    assert all(a["kind"] in ("spike", "emerging", "died") for a in body["data"])
