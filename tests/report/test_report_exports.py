"""The monthly Markdown report, the CSV/JSON exports and the `voc report` / `voc export`
commands, on the real report workspace."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.report.conftest import FORMULA, WS, XSS, Workspace
from voc.cli import app as cli
from voc.report import build_report
from voc.report.export import (
    ASSIGNMENT_COLUMNS,
    THEME_COLUMNS,
    assignment_rows,
    spreadsheet_safe,
    theme_rows,
    write_rows,
)
from voc.report.markdown import STRINGS, md_text, render_markdown
from voc.settings import get_settings

pytestmark = pytest.mark.slow

SECTIONS = {
    "en": [
        "Summary",
        "Top needs",
        "Top needs by priority",
        "Unstated needs",
        "Customer journey",
        "What changed since the last period",
        "Alerts",
        "Recommended follow-ups",
    ],
    "zh": [
        "摘要",
        "主要需求",
        "优先需求",
        "未明说的需求",
        "客户旅程",
        "与上一周期相比的变化",
        "异常提醒",
        "建议跟进",
    ],
}
PERIOD = date(2026, 9, 1)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_markdown_report_has_its_sections_and_counts_the_period(
    workspace: Workspace, lang: str
) -> None:
    report = build_report(workspace.store, WS)
    text = render_markdown(report, lang, since=date(2026, 9, 1))
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    assert headings == SECTIONS[lang]
    in_period = sum(
        u.created_at is not None and u.created_at.date() >= date(2026, 8, 31)
        for u in workspace.store.iter_units(WS)
    )
    assert f"**{in_period:,}**" in text
    assert "<script" not in text and "<img" not in text
    assert "   > \u201c" in text  # evidence quotes under the follow-ups


def _section(text: str, heading: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(f"## {heading}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def _in_period(theme: dict, weeks: list[str]) -> int:
    first = weeks.index("2026-08-31")
    return sum(sum(c[first:]) for c in theme["cells"].values())


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_markdown_report_tells_the_needs_of_the_top_themes(workspace: Workspace, lang: str) -> None:
    report = build_report(workspace.store, WS)
    text = render_markdown(report, lang, since=PERIOD)
    s = STRINGS[lang]
    level0 = [t for t in report["themes"] if t["level"] == 0]
    active = [t for t in level0 if _in_period(t, report["weeks"])]
    ranked = sorted(
        active, key=lambda t: (-t["priority"], -_in_period(t, report["weeks"]), t["id"])
    )

    priority = _section(text, s["priority_needs"])
    items = [line for line in priority if line[:1].isdigit()]
    assert len(items) == 5
    for i, (line, theme) in enumerate(zip(items, ranked, strict=False), 1):
        name = theme["name"] if theme["curated_name"] else theme["names"].get(lang) or theme["name"]
        assert line.startswith(f"{i}. **{md_text(name)} ({theme['id']})**")
        assert f"{theme['priority']:.1f}" in line
    for theme in ranked[:5]:
        statement = theme["need_statement"].get(lang) or next(
            iter(theme["need_statement"].values())
        )
        assert f"   - {md_text(statement)}" in priority
    quoted = [line for line in priority if line.startswith("   > \u201c")]
    evidence = [q["text"] for t in ranked[:5] for q in t.get("evidence", [])]
    assert quoted and all(any(md_text(q) in line for q in evidence) for line in quoted)

    unstated = _section(text, s["unstated"])
    entries = [line for line in unstated if line[:1].isdigit()]
    assert len(entries) == len(report["unstated_needs"])
    for line, need in zip(entries, report["unstated_needs"], strict=True):
        statement = need["statement"].get(lang) or next(iter(need["statement"].values()))
        assert line.split(" ", 1)[1].startswith(f"**{md_text(statement)}**")
        assert need["theme_id"] in line
    assert any("need\\_gap = 1 \u2212 min(1, R / (0.5\u00b7(R + E)))" in line for line in unstated)

    journey = _section(text, s["journey"])
    rows = {line.split(" | ")[0][2:]: line for line in journey if line.startswith("| ")}
    first = report["weeks"].index("2026-08-31")
    for stage in report["values"]["stage"]:
        n = sum(
            sum(c[first:]) for k, c in report["volume"]["cells"].items() if k.split("|")[2] == stage
        )
        if n:
            assert rows[s["stage_" + stage]].split(" | ")[1] == f"{n:,}"
        else:
            assert s["stage_" + stage] not in rows


def test_markdown_text_cannot_become_markup() -> None:
    escaped = md_text(f"{XSS} [click](http://x) | *bold* `code`\nnext")
    assert escaped == (
        "&lt;script&gt;alert(1)&lt;/script&gt; \\[click\\](http://x) \\| \\*bold\\* \\`code\\` next"
    )


def test_csv_exports_neutralise_formulas_and_keep_every_unit(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "assignments.csv"
    n = write_rows(assignment_rows(workspace.store, WS), ASSIGNMENT_COLUMNS, path, "csv")
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert n == len(rows) == workspace.store.count(WS, "units")
    assert list(rows[0]) == list(ASSIGNMENT_COLUMNS)
    formula = next(r for r in rows if "HYPERLINK" in r["text"])
    assert formula["text"] == "'" + FORMULA
    assert all(not r["text"].startswith(("=", "+", "-", "@")) for r in rows)
    assert {r["theme_id"] for r in rows} - {""} <= {t["theme_id"] for t in _themes(workspace)}
    assert (spreadsheet_safe(-0.25), spreadsheet_safe("-5 stars"), spreadsheet_safe(None)) == (
        "-0.25",
        "'-5 stars",
        "",
    )


def _themes(workspace: Workspace) -> list[dict]:
    return theme_rows(workspace.store, WS)


def test_theme_exports_match_the_report(workspace: Workspace, tmp_path: Path) -> None:
    rows = _themes(workspace)
    report = build_report(workspace.store, WS)
    assert {r["theme_id"]: r["size"] for r in rows} == {
        t["id"]: t["size"] for t in report["themes"]
    }
    assert all(r["units_zh"] + r["units_en"] == r["size"] for r in rows)
    path = tmp_path / "themes.json"
    assert write_rows(rows, THEME_COLUMNS, path, "json") == len(rows)
    loaded = json.loads(path.read_text(encoding="utf-8"))
    assert [list(r) for r in loaded] == [list(THEME_COLUMNS)] * len(rows)
    assert loaded[0]["keywords_en"] == rows[0]["keywords_en"]


@pytest.fixture
def cli_env(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("VOC_DATABASE_URL", workspace.settings.resolved_database_url)
    monkeypatch.setenv("VOC_WORKSPACE", WS)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_voc_report_and_export_write_their_files(cli_env: None, tmp_path: Path) -> None:
    runner = CliRunner()
    html = tmp_path / "r.html"
    result = runner.invoke(cli, ["report", "--out", str(html), "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert html.read_text(encoding="utf-8").startswith("<!doctype html>")
    md = tmp_path / "r.md"
    result = runner.invoke(
        cli, ["report", "--format", "md", "--since", "2026-09-01", "--out", str(md)]
    )
    assert result.exit_code == 0, result.output
    assert md.read_text(encoding="utf-8").startswith("# 需求洞察报告")
    out = tmp_path / "t.csv"
    result = runner.invoke(cli, ["export", "themes", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8-sig").splitlines()[0] == ",".join(THEME_COLUMNS)
    bad = runner.invoke(cli, ["report", "--format", "pdf"])
    assert bad.exit_code == 2
