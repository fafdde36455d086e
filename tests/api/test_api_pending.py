"""Between runs: a dense group of pending feedback is proposed as a theme at once."""

from __future__ import annotations

import re

from tests.api.conftest import Api
from voc.pipeline import pending_groups

WS = "/v1/workspaces/acme"

SMOKE = [
    ("The branch lobby stinks of cigarettes.", "2026-03-02T09:00:00+00:00"),
    ("Your branch lobby smells strongly of cigarette smoke.", "2026-03-02T10:00:00+00:00"),
    ("The branch waiting area reeks of cigarette smoke.", "2026-03-03T08:00:00+00:00"),
    (
        "Someone smokes in your branch lobby and it stinks of cigarettes.",
        "2026-03-03T12:00:00+00:00",
    ),
    # Each names the smoker as well as the smell: "营业厅里一股烟味，太难闻了" alone sits at
    # cosine 0.21 from the demo interviews' praise theme, just over the 0.2 a live unit needs.
    ("网点等候区有人抽烟，呛得人直咳嗽。", "2026-03-04T09:00:00+08:00"),
    ("营业厅里有人抽烟，满屋子都是烟味。", "2026-03-04T10:00:00+08:00"),
    ("网点大厅有人抽烟，烟味很大。", "2026-03-05T09:00:00+08:00"),
    ("网点大厅烟味呛人，抽烟的也没人管。", "2026-03-05T11:00:00+08:00"),
]
UNRELATED = [
    "Photosynthesis converts light into chemical energy in plants.",
    # Not "My cat likes to sleep on the warm windowsill.": "likes" puts it at cosine 0.27 from
    # the demo interviews' praise theme.
    "Basalt columns form when thick lava cools slowly.",
    "火山喷发后岩浆会慢慢冷却。",
]


def test_a_dense_group_of_pending_feedback_is_proposed_as_one_theme(api: Api) -> None:
    records = [{"source": "review", "text": text, "created_at": when} for text, when in SMOKE]
    records += [
        {"source": "review", "text": text, "created_at": "2026-03-03T09:00:00+00:00"}
        for text in UNRELATED
    ]
    response = api.client.post(
        f"{WS}/feedback", json={"records": records}, headers=api.headers("acme-submit")
    )
    assert response.status_code == 200, response.text
    units = [u for item in response.json()["items"] for u in item["units"]]
    assert [u["status"] for u in units] == ["pending"] * len(records)

    alerts = api.client.get(f"{WS}/alerts", headers=api.headers("acme-read")).json()
    groups = pending_groups(api.store, "acme")
    smoke_ids = {u["unit_id"] for u in units[: len(SMOKE)]}
    unrelated_ids = {u["unit_id"] for u in units[len(SMOKE) :]}
    [group] = [g for g in groups if smoke_ids & set(g.unit_ids)]
    assert set(group.unit_ids) == smoke_ids
    assert not any(unrelated_ids & set(g.unit_ids) for g in groups)
    by_id = {a["theme_id"]: a for a in alerts["data"] if a["kind"] == "proposed"}
    assert set(by_id) == {g.group_id for g in groups}
    proposed = by_id[group.group_id]
    assert (proposed["count"], proposed["period"], proposed["label"]) == (
        8,
        "2026-03-02",
        "2026-W10",
    )
    assert (proposed["baseline"], proposed["p_value"]) == (0.0, None)
    assert proposed["message"].startswith(
        "Proposed theme: 8 pending feedback units (2026-03-02 to 2026-03-05) far from every "
        "theme but close to each other, such as “"
    )
    quotes = re.findall(r"“([^”]*)”", proposed["message"])
    assert len(set(quotes)) == 3 and set(quotes) <= {text for text, _ in SMOKE}
