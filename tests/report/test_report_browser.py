"""The HTML report opened in a real headless Chromium: it renders its charts, opens theme
panels, filters, switches language, never runs customer text, and works under the API's
Content-Security-Policy. Screenshots are written to artifacts/report/."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.report.conftest import WS, XSS, XSS_NAME, Page, Workspace
from voc.keys import create_key
from voc.report import build_report, render_html

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(workspace: Workspace) -> dict[str, Any]:
    return build_report(workspace.store, WS, lang="en")


@pytest.fixture(scope="module")
def report_file(report: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path


@pytest.fixture
def opened(page: Page, report_file: Path) -> Iterator[Page]:
    page.page.goto(report_file.as_uri())
    page.page.wait_for_selector("body[data-ready=true]")
    yield page
    assert page.errors() == []
    assert page.dialogs == []


def _kpi(page: Page, label: str) -> str:
    card = page.page.locator(".kpi", has=page.page.locator(".label", has_text=label))
    return card.locator(".value").inner_text()


def _row_sizes(page: Page) -> dict[str, int]:
    rows = page.page.locator("tr.theme-row")
    out = {}
    for i in range(rows.count()):
        row = rows.nth(i)
        out[row.get_attribute("data-theme")] = int(
            row.locator(".size").inner_text().replace(",", "")
        )
    return out


def test_overview_renders_charts_alerts_and_themes(opened: Page, workspace: Workspace) -> None:
    page = opened.page
    assert page.locator("h1").inner_text() == "Customer needs insight report"
    assert _kpi(opened, "Feedback units") == f"{workspace.store.count(WS, 'units'):,}"
    for chart in ("#chart-source", "#chart-lang"):
        assert page.locator(f"{chart} svg").count() == 1
        assert page.locator(f"{chart} svg path").count() > 10
        box = page.locator(f"{chart} svg").bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
    assert page.locator("#chart-source .ec-legend, #chart-source svg text").count() > 0
    assert page.locator("tr.theme-row").count() == min(20, len(_level0(workspace)))
    assert page.locator("tr.theme-row svg.spark polyline").count() > 0
    assert page.locator("#alert-list li").count() >= 1
    for section in ("#priority", "#unstated", "#journey"):
        assert page.locator(section).is_visible()
    opened.screenshot("overview", full_page=True)


def _level0(workspace: Workspace) -> list[str]:
    run = workspace.store.current_run(WS)
    assert run is not None
    return [t.theme_id for t in workspace.store.list_themes(run.run_id) if t.level == 0]


def test_a_theme_panel_opens_with_its_quotes_and_full_record(
    opened: Page, workspace: Workspace
) -> None:
    page = opened.page
    row = page.locator("tr.theme-row").first
    theme_id = row.get_attribute("data-theme")
    assert page.locator("#panel").is_hidden()
    row.click()
    panel = page.locator("#panel")
    assert panel.is_visible() and panel.get_attribute("data-theme") == theme_id
    run = workspace.store.current_run(WS)
    assert run is not None
    theme = workspace.store.get_theme(run.run_id, theme_id)
    assert panel.locator(".quote").count() == len(theme.quotes)
    assert panel.locator(".quote p").first.inner_text() == theme.quotes[0]["text"]
    assert panel.locator("#chart-theme svg path").count() > 3
    opened.screenshot("theme-panel")
    panel.locator(".full-record").first.click()
    dialog = page.locator("dialog#record")
    assert dialog.is_visible()
    assert dialog.locator("mark").inner_text() == theme.quotes[0]["text"]
    opened.screenshot("full-record")
    page.keyboard.press("Escape")
    assert dialog.is_hidden()


def test_filters_change_what_is_shown(opened: Page, workspace: Workspace) -> None:
    page = opened.page
    units = list(workspace.store.iter_units(WS))
    before = _row_sizes(opened)
    page.select_option("select[data-filter=source]", "interview")
    interviews = sum(u.source == "interview" for u in units)
    assert _kpi(opened, "Feedback units") == f"{interviews:,}"
    after = _row_sizes(opened)
    assert after != before and sum(after.values()) <= interviews
    page.select_option("select[data-filter=lang]", "zh")
    zh = sum(u.source == "interview" and u.lang == "zh" for u in units)
    assert _kpi(opened, "Feedback units") == f"{zh:,}"
    opened.screenshot("filtered-interview-zh")
    page.select_option("select[data-filter=source]", "")
    page.select_option("select[data-filter=lang]", "")
    weeks = page.locator("select[data-filter=from] option").count()
    page.select_option("select[data-filter=from]", str(weeks - 1))
    last = _row_sizes(opened)
    assert sum(last.values()) < sum(before.values())
    assert page.locator("#chart-source svg path").count() > 0


def test_language_switch_changes_interface_text(opened: Page, workspace: Workspace) -> None:
    page = opened.page
    english = page.locator("tr.theme-row .theme-name").all_inner_texts()
    page.click(".lang-switch button[data-lang=zh]")
    assert page.locator("h1").inner_text() == "需求洞察报告"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("#themes h2").inner_text() == "主要主题"
    assert _kpi(opened, "反馈条数") == f"{workspace.store.count(WS, 'units'):,}"
    assert page.locator("select[data-filter=source] option").first.inner_text() == "全部"
    assert "月" in page.locator("select[data-filter=from] option").first.inner_text()
    assert page.locator("tr.theme-row .theme-name").all_inner_texts() != english
    opened.screenshot("overview-zh")
    page.click(".lang-switch button[data-lang=en]")
    assert page.locator("h1").inner_text() == "Customer needs insight report"


def test_customer_markup_shows_as_text_and_never_runs(opened: Page, workspace: Workspace) -> None:
    page = opened.page
    page.click(".lang-switch button[data-lang=en]")
    row = page.locator(f"tr.theme-row[data-theme='{workspace.xss_theme}']")
    if row.count() == 0:
        page.click("#theme-table button.more")
    row.locator(".theme-name").click()
    panel = page.locator("#panel")
    assert panel.locator("h2").inner_text() == XSS_NAME
    quotes = panel.locator(".quote p").all_inner_texts()
    assert quotes and all(XSS in q for q in quotes)
    panel.locator(".full-record").first.click()
    assert XSS in page.locator("dialog#record mark").inner_text()
    assert page.locator("script").count() == 3
    assert page.locator("img").count() == 0
    opened.screenshot("markup-as-text")


def _by_priority(report: dict[str, Any]) -> list[dict[str, Any]]:
    level0 = [t for t in report["themes"] if t["level"] == 0]
    return sorted(level0, key=lambda t: (-t["priority"], -t["size"]))


def test_priority_unstated_and_journey_show_the_runs_needs(
    opened: Page, report: dict[str, Any]
) -> None:
    page = opened.page
    ranked = _by_priority(report)
    items = page.locator("#priority li")
    assert items.count() == 10
    assert [items.nth(i).get_attribute("data-theme") for i in range(10)] == [
        t["id"] for t in ranked[:10]
    ]
    top = ranked[0]
    assert items.first.locator(".need").inner_text() == top["need_statement"]["en"]
    parts = [k for k, v in top["priority_parts"].items() if v]
    assert items.first.locator(".part").count() == len(parts)
    assert page.locator("tr.theme-row").first.get_attribute("data-theme") == top["id"]
    assert page.locator("#themes th.sorted").inner_text() == "Priority"

    unstated = page.locator("#unstated li")
    assert [unstated.nth(i).get_attribute("data-theme") for i in range(unstated.count())] == [
        n["theme_id"] for n in report["unstated_needs"]
    ]
    first = report["unstated_needs"][0]
    assert unstated.first.locator(".need").inner_text() == first["statement"]["en"]
    quotes = unstated.first.locator("blockquote.evidence")
    assert quotes.count() == len(first["evidence"])
    assert quotes.first.inner_text().startswith("\u201c" + first["evidence"][0]["text"] + "\u201d")
    assert (
        "need_gap = 1 \u2212 min(1, R / (0.5\u00b7(R + E))) \u00d7 facet overlap"
        in page.locator("#unstated .formula").inner_text()
    )

    stages = [s for s in report["values"]["stage"] if any(_stage_units(t, s) for t in ranked)]
    head = page.locator("#journey th[data-stage]")
    assert [head.nth(i).get_attribute("data-stage") for i in range(head.count())] == stages
    row = page.locator(f"#journey tr[data-theme='{top['id']}']")
    for stage in stages:
        n = _stage_units(top, stage)
        assert row.locator(f"td[data-stage={stage}]").inner_text() == (str(n) if n else "")
    opened.screenshot("needs", full_page=True)


def _stage_units(theme: dict[str, Any], stage: str) -> int:
    cells = sum(sum(c) for k, c in theme["cells"].items() if k.split("|")[2] == stage)
    return cells + sum(n for k, n in theme["undated"].items() if k.split("|")[2] == stage)


def test_stage_filter_changes_what_is_shown(
    opened: Page, report: dict[str, Any], workspace: Workspace
) -> None:
    page = opened.page
    needs = workspace.store.unit_needs(WS, None)
    stages = Counter(n.stage for n in needs.values())
    stage = "support"
    assert 0 < stages[stage] < sum(stages.values())
    labels = page.locator("select[data-filter=stage] option").all_inner_texts()
    assert labels[0] == "All" and "Support" in labels
    page.select_option("select[data-filter=stage]", stage)
    assert _kpi(opened, "Feedback units") == f"{stages[stage]:,}"
    expected = {t["id"]: _stage_units(t, stage) for t in report["themes"] if t["level"] == 0}
    expected = {k: v for k, v in expected.items() if v}
    if len(expected) > 20:
        page.click("#theme-table button.more")
    assert _row_sizes(opened) == expected
    head = page.locator("#journey th[data-stage]")
    assert [head.nth(i).get_attribute("data-stage") for i in range(head.count())] == [stage]
    theme_id = max(expected, key=lambda k: expected[k])
    page.locator(f"tr.theme-row[data-theme='{theme_id}']").click()
    quotes = page.locator("#panel .quote")
    assert quotes.count() >= 1
    for i in range(quotes.count()):
        assert needs[quotes.nth(i).get_attribute("data-unit")].stage == stage
    assert page.locator("#panel .stage-mix .bars > div").count() == 3
    opened.screenshot("filtered-stage-support")


def test_theme_panel_shows_intent_sentiment_priority_and_gap(
    opened: Page, report: dict[str, Any]
) -> None:
    page = opened.page
    theme = next(t for t in _by_priority(report) if "rating_impact" in t)
    page.locator(f"tr.theme-row[data-theme='{theme['id']}']").click()
    panel = page.locator("#panel")
    assert panel.locator(".need-statement").inner_text() == theme["need_statement"]["en"]
    intents = panel.locator(".intent-mix .bars > div").all_inner_texts()
    assert intents[0::3] == ["Pain", "Request", "Question", "Praise", "Other"]
    assert intents[2::3] == _shares(theme["intent_mix"])
    sentiments = panel.locator(".sentiment-mix .bars > div").all_inner_texts()
    assert sentiments[0::3] == ["Negative", "Neutral", "Positive"]
    assert sentiments[2::3] == _shares(theme["sentiment_mix"])
    parts = panel.locator(".parts-list > div[data-part]")
    assert [parts.nth(i).get_attribute("data-part") for i in range(parts.count())] == [
        "volume",
        "growth",
        "negativity",
        "churn_risk",
        "effort",
    ]
    assert panel.locator(".churn").inner_text() == (
        f"Churn risk: {_pct(theme['churn_risk'])} of units mention leaving or cancelling"
    )
    r = theme["rating_impact"]
    sign = "+" if r["impact"] > 0 else ""
    assert panel.locator(".rating").inner_text() == (
        f"Rating impact: {sign}{_num(r['impact'])} stars ({_num(r['mean'])} here vs "
        f"{_num(r['rest_mean'])} elsewhere; {r['n']} vs {r['rest_n']} ratings)"
    )
    assert panel.locator(".gap-line").inner_text() == (
        f"Need gap: {_num(theme['need_gap'])}: {theme['need_evidence']} units show the need "
        f"(pains, workarounds, effort, confusion), {theme['need_requests']} ask for something"
    )
    assert panel.locator(".evidence-quote").count() == len(theme["evidence"])
    opened.screenshot("theme-panel-needs")


def _num(x: float | Decimal, digits: int = 2) -> str:
    """As the page's Intl number format writes it in English: the double's exact value, at
    most `digits` decimals, rounded half away from zero, no trailing zeros."""
    step = Decimal(1).scaleb(-digits)
    text = format(Decimal(x).quantize(step, rounding=ROUND_HALF_UP).normalize(), "f")
    return "0" if text == "-0" else text


def _pct(x: float) -> str:
    return _num(Decimal(x) * 100, 1) + "%"


def _shares(mix: dict[str, float]) -> list[str]:
    """A mix's bars as the page labels them: each value over the values' sum (in key order,
    as the page adds them)."""
    total = 0.0
    for v in mix.values():
        total += v
    return [_pct(v / total) for v in mix.values()]


def test_served_report_runs_under_its_content_security_policy(
    page: Page, workspace: Workspace
) -> None:
    _, token = create_key(workspace.store, WS, ["read"], "report test")
    with TestClient(create_app(workspace.settings, workspace.embedder)) as client:
        response = client.get(
            f"/v1/workspaces/{WS}/report?lang=zh", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'")
    assert response.headers["cache-control"] == "no-store"
    url = "http://voc.test/report"
    page.page.route(
        url,
        lambda route: route.fulfill(
            status=200, headers=dict(response.headers), body=response.content
        ),
    )
    page.page.goto(url)
    page.page.wait_for_selector("body[data-ready=true]")
    assert page.page.locator("h1").inner_text() == "需求洞察报告"
    page.page.locator("tr.theme-row").first.click()
    assert page.page.locator("#panel .quote").count() > 0
    assert page.errors() == []
    blocked = page.page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';"
        " document.body.appendChild(s); return window.ran === undefined; }"
    )
    assert blocked
