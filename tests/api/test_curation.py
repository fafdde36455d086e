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


def _untouched(api: Api, admin: dict[str, str]) -> list[str]:
    """Served themes no active curation names, largest first, so a test owns what it changes."""
    curated = {i for c in api.store.list_curations("cur") for i in (c.theme_id, c.target_id) if i}
    served = _themes(api, admin)
    return sorted((t for t in served if t not in curated), key=lambda t: (-served[t]["size"], t))


def _undo(api: Api, headers: dict[str, str], curation_id: int, ws: str = WS) -> httpx.Response:
    return api.client.delete(f"{ws}/curations/{curation_id}", headers=headers)


def test_an_undone_rename_serves_the_old_name_again_and_after_a_recluster(
    api: Api, admin: dict[str, str], embedder: Embedder
) -> None:
    theme = _untouched(api, admin)[0]
    old_name = _themes(api, admin)[theme]["name"]
    renamed = _post(api, admin, f"{theme}/rename", {"name": "暂时的名字"})
    assert _themes(api, admin)[theme]["name"] == "暂时的名字"
    curation_id = renamed.json()["curation_id"]

    undone = _undo(api, admin, curation_id)
    assert undone.status_code == 200, undone.text
    body = undone.json()
    assert (body["curation"]["curation_id"], body["curation"]["active"]) == (curation_id, False)
    assert body["run_id"] == api.store.current_run("cur").run_id
    assert body["themes"] == renamed.json()["themes"]
    assert _themes(api, admin)[theme]["name"] == old_name
    key_id = renamed.json()["created_by"]
    history = api.client.get(f"{WS}/themes/{theme}", headers=admin).json()["history"]
    assert [(e["kind"], e["detail"]) for e in history[-2:]] == [
        ("curated", "renamed to '暂时的名字'"),
        ("curated", f"undone by {key_id}: rename (curation {curation_id})"),
    ]
    listed = api.client.get(f"{WS}/curations", headers=admin).json()
    assert listed["count"] == len(listed["data"])
    record = next(c for c in listed["data"] if c["curation_id"] == curation_id)
    assert (record["kind"], record["theme_id"], record["name"], record["active"]) == (
        "rename",
        theme,
        "暂时的名字",
        False,
    )

    recluster(api.store, api.settings, "cur", embedder, seed=1)
    assert _themes(api, admin)[theme]["name"] == old_name


def test_an_undone_merge_serves_both_themes_again(api: Api, admin: dict[str, str]) -> None:
    before = _themes(api, admin)
    source, target = _untouched(api, admin)[:2]
    merged = _post(api, admin, f"{source}/merge", {"target_id": target})
    assert merged.status_code == 200, merged.text
    assert source not in _themes(api, admin)

    assert _undo(api, admin, merged.json()["curation_id"]).status_code == 200
    after = _themes(api, admin)
    assert (after[source]["size"], after[target]["size"]) == (
        before[source]["size"],
        before[target]["size"],
    )
    assert (after[source]["name"], after[target]["name"]) == (
        before[source]["name"],
        before[target]["name"],
    )


def test_undoing_a_curation_twice_is_a_409_problem(api: Api, admin: dict[str, str]) -> None:
    theme = _untouched(api, admin)[0]
    curation_id = _post(api, admin, f"{theme}/hide").json()["curation_id"]
    assert _undo(api, admin, curation_id).status_code == 200
    again = _undo(api, admin, curation_id)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert (again.json()["code"], again.json()["detail"]) == (
        "conflict",
        f"curation {curation_id} is already undone",
    )
    assert theme in _themes(api, admin)


def test_a_curation_of_another_workspace_is_not_found(api: Api, admin: dict[str, str]) -> None:
    theme = _untouched(api, admin)[0]
    curation_id = _post(api, admin, f"{theme}/hide").json()["curation_id"]
    elsewhere = _undo(api, api.headers("beta-admin"), curation_id, "/v1/workspaces/beta")
    assert elsewhere.status_code == 404
    assert elsewhere.headers["content-type"] == "application/problem+json"
    assert elsewhere.json()["detail"] == f"curation {curation_id} is not a curation of 'beta'"
    beta = api.client.get("/v1/workspaces/beta/curations", headers=api.headers("beta-admin"))
    assert beta.json() == {"data": [], "count": 0}
    assert api.store.get_curation(curation_id).active
    assert theme not in _themes(api, admin)
    missing = _undo(api, admin, 999999)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "curation 999999 is not a curation of 'cur'"
    assert _undo(api, admin, curation_id).status_code == 200
