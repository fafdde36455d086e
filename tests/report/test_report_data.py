"""The report's data (voc.report.data) agrees with the store, and the page embeds it safely."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from typing import Any

import pytest
from markupsafe import escape

from tests.report.conftest import WS, XSS, XSS_NAME, Workspace
from voc.needs import STAGES, UnitNeeds
from voc.pipeline import Ingestor
from voc.report import build_report, content_security_policy, render_html
from voc.report.html import report_json
from voc.settings import CORPORA_DIR
from voc.types import Theme

pytestmark = pytest.mark.slow


def _cells_total(entry: dict) -> int:
    return sum(sum(c) for c in entry["cells"].values()) + sum(entry["undated"].values())


def test_volume_and_theme_sizes_match_the_store(workspace: Workspace) -> None:
    store = workspace.store
    report = build_report(store, WS)
    assert report["units"] == store.count(WS, "units") == _cells_total(report["volume"])
    run = store.current_run(WS)
    assert run is not None and report["run"]["run_id"] == run.run_id
    stats = store.theme_stats(run.run_id)
    children = [t for t in report["themes"] if t["level"] == 0]
    assert {t["id"]: t["size"] for t in children} == {k: v.size for k, v in stats.items()}
    assert all(t["size"] == _cells_total(t) for t in report["themes"])
    for parent in (t for t in report["themes"] if t["level"] == 1):
        assert parent["size"] == sum(t["size"] for t in children if t["parent"] == parent["id"])
    stages = {n.stage for n in _unit_needs(workspace).values()}
    assert report["dims"] == ["source", "lang", "stage"]
    assert report["values"] == {
        "source": ["interview", "review", "ticket"],
        "lang": ["en", "zh"],
        "stage": [s for s in STAGES if s in stages],
    }
    assert len(report["weeks"]) == len(next(iter(report["volume"]["cells"].values())))


def test_quotes_carry_their_record_text_around_them(workspace: Workspace) -> None:
    report = build_report(workspace.store, WS)
    quotes = [q for t in report["themes"] for q in t["quotes"]]
    assert quotes
    for q in quotes:
        record = workspace.store.get_record(WS, q["record_id"])
        assert q["before"] + q["text"] + q["after"] in record.text
        assert record.text.startswith(q["before"]) or q["cut_before"]


def test_since_keeps_only_feedback_written_from_that_day(workspace: Workspace) -> None:
    since = date(2026, 9, 1)
    report = build_report(workspace.store, WS, since)
    assert report["weeks"][0] == "2026-08-31"
    dated = [u for u in workspace.store.iter_units(WS) if u.created_at]
    assert report["units"] == sum(u.created_at.date() >= since for u in dated)
    for theme in report["themes"]:
        assert all(q["created_at"] >= "2026-09-01" for q in theme["quotes"])


def test_split_off_theme_keeps_its_curated_name_and_history(workspace: Workspace) -> None:
    report = build_report(workspace.store, WS)
    theme = next(t for t in report["themes"] if t["id"] == workspace.xss_theme)
    assert (theme["name"], theme["curated_name"]) == (XSS_NAME, True)
    assert theme["quotes"] and all(XSS in q["text"] for q in theme["quotes"])
    assert any(e["kind"] in ("split", "curated") for e in theme["history"])


def _unit_needs(workspace: Workspace) -> dict[str, UnitNeeds]:
    return workspace.store.unit_needs(WS, None)


def _served(workspace: Workspace) -> dict[str, Theme]:
    run = workspace.store.current_run(WS)
    assert run is not None
    hidden = workspace.store.hidden_themes(run.run_id)
    return {
        t.theme_id: t for t in workspace.store.list_themes(run.run_id) if t.theme_id not in hidden
    }


def _stage_counts(cells: dict[str, list[int]], undated: dict[str, int]) -> Counter[str]:
    out: Counter[str] = Counter()
    for key, weekly in cells.items():
        out[key.split("|")[2]] += sum(weekly)
    for key, n in undated.items():
        out[key.split("|")[2]] += n
    return out


def test_cells_are_split_by_each_units_stage(workspace: Workspace) -> None:
    report = build_report(workspace.store, WS)
    needs = _unit_needs(workspace)
    units = list(workspace.store.iter_units(WS))
    assert {u.id for u in units} == set(needs)
    assert _stage_counts(report["volume"]["cells"], report["volume"]["undated"]) == Counter(
        needs[u.id].stage for u in units
    )
    run = workspace.store.current_run(WS)
    assert run is not None
    for theme in (t for t in report["themes"] if t["level"] == 0):
        members = workspace.store.theme_unit_needs(run.run_id, [theme["id"]])
        assert _stage_counts(theme["cells"], theme["undated"]) == Counter(
            n.stage for _, n in members
        )


def test_theme_needs_are_the_runs_profiles(workspace: Workspace) -> None:
    report = build_report(workspace.store, WS)
    served = _served(workspace)
    assert report["themes"] and all(served[t["id"]].needs for t in report["themes"])
    for theme in report["themes"]:
        n: dict[str, Any] = served[theme["id"]].needs or {}
        units = n["units"]
        assert theme["priority"] == n["priority"]
        assert theme["priority_parts"] == n["priority_parts"]
        assert theme.get("need_statement") == (n["need_statement"] or None)
        assert (theme["need_gap"], theme["need_evidence"], theme["need_requests"]) == (
            n["need_gap"],
            n["evidence"],
            n["requests"],
        )
        assert theme["intent_mix"] == {k: round(v / units, 4) for k, v in n["intents"].items()}
        assert theme["sentiment_mix"] == {
            k: round(v / units, 4) for k, v in n["sentiments"].items()
        }
        assert (theme["sentiment"], theme["churn_risk"]) == (n["sentiment_mean"], n["churn_risk"])
        assert theme["stages"] == {k: v for k, v in n["stages"].items() if v}
        assert theme.get("unstated", False) == n["unstated"]
        rating = n["ratings"].get("rating", {})
        if "impact" in rating:
            assert theme["rating_impact"] == {"field": "rating", **rating}
        else:
            assert "rating_impact" not in theme
    assert any("rating_impact" in t for t in report["themes"])
    assert report["needs_method"]["request_par"] == 0.5


def test_unstated_needs_are_ranked_and_quote_workarounds_first(workspace: Workspace) -> None:
    report = build_report(workspace.store, WS)
    served = _served(workspace)
    shown = {t["id"] for t in report["themes"] if t["level"] == 0}
    flagged = [t for tid, t in served.items() if tid in shown and t.needs and t.needs["unstated"]]
    flagged.sort(key=lambda t: (-t.needs["unstated_score"], -t.needs["units"], t.theme_id))  # type: ignore[index]
    assert flagged, "the report workspace should have unstated needs"
    assert [n["theme_id"] for n in report["unstated_needs"]] == [t.theme_id for t in flagged]
    run = workspace.store.current_run(WS)
    assert run is not None
    order = {"workaround": 0, "effort": 1, "confusion": 1, "pain": 2}
    for entry, theme in zip(report["unstated_needs"], flagged, strict=True):
        n = theme.needs or {}
        assert entry["statement"] == n["need_statement"]
        assert (entry["need_gap"], entry["need_evidence"], entry["need_requests"]) == (
            n["need_gap"],
            n["evidence"],
            n["requests"],
        )
        members = dict(
            (h.unit.id, needs)
            for h, needs in workspace.store.theme_unit_needs(run.run_id, [theme.theme_id])
        )
        quotes = entry["evidence"]
        assert 1 <= len(quotes) <= 3
        assert len({q["text"] for q in quotes}) == len(quotes)
        ranks = [order[q["reason"]] for q in quotes]
        assert ranks == sorted(ranks)
        for q in quotes:
            unit = members[q["unit_id"]]
            assert q["reason"] == "pain" and unit.intent == "pain" or q["reason"] in unit.signals
            record = workspace.store.get_record(WS, q["record_id"])
            assert q["before"] + q["text"] + q["after"] in record.text
        if any("workaround" in u.signals and u.intent != "request" for u in members.values()):
            assert quotes[0]["reason"] == "workaround"
        theme_row = next(t for t in report["themes"] if t["id"] == theme.theme_id)
        assert theme_row["evidence"] == quotes


def test_embedded_json_cannot_close_its_script_element(workspace: Workspace) -> None:
    report = build_report(workspace.store, WS)
    text = report_json(report)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == json.loads(json.dumps(report))
    page = render_html(report)
    assert XSS not in page and XSS_NAME not in page
    assert page.count("<script") == 3
    policy = content_security_policy()
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    script_src = next(p for p in policy.split("; ") if p.startswith("script-src"))
    assert "unsafe" not in script_src and script_src.count("'sha256-") == 2
    assert str(escape(content_security_policy(header=False))) in page


def test_a_workspace_without_themes_still_reports_its_volume(workspace: Workspace) -> None:
    Ingestor(workspace.store, workspace.settings).ingest_paths(
        [CORPORA_DIR / "demo" / "interviews"], "interview", "fresh"
    )
    report = build_report(workspace.store, "fresh")
    assert report["run"] is None and report["themes"] == [] and report["alerts"] == []
    assert report["dims"] == ["source", "lang"]
    assert "unstated_needs" not in report and "needs_method" not in report
    assert report["units"] == workspace.store.count("fresh", "units") > 0
    assert "<!doctype html>" in render_html(report)
