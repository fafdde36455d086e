"""The monthly needs insight report (需求洞察报告) in Markdown, in Chinese or English.

It reads the same report data as the HTML page (`voc.report.data.build_report`, built over all
dates so the previous period is there to compare with). The period is the weeks from `since`
to the last week of data, or the last four weeks without it; the previous period is as many
weeks just before. Customer text is escaped so a Markdown viewer shows it as written: no
quote can turn into a link, a heading, a table cell or HTML.

When the run has needs profiles (voc.needs, through the report data), the report also ranks
the needs by priority with their statements and the customers' own words as evidence, lists
the unstated needs with how they were decided, and summarises the customer journey (units per
lifecycle stage in the period and the themes that dominate each).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

DEFAULT_WEEKS = 4
TOP_NEEDS = 10
FOLLOW_UPS = 5
QUOTES_PER_FOLLOW_UP = 2
PRIORITY_NEEDS = 5
EVIDENCE_PER_NEED = 2
THEMES_PER_STAGE = 3
PRIORITY_PARTS = ("volume", "growth", "negativity", "churn_risk", "effort")
MIN_CHANGE_COUNT = 5
"""A theme needs this many mentions in one of the two periods to be called growing or
declining: 1 -> 3 mentions is not a change worth a product manager's time."""

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Customer needs insight report",
        "period": "Period: {start} to {end} ({weeks} weeks); compared with {pstart} to {pend}.",
        "generated": "Workspace `{ws}`, generated {at}.",
        "summary": "Summary",
        "units": "**{n}** feedback units in the period ({change} on the previous period).",
        "units_new": "**{n}** feedback units in the period (none in the previous period).",
        "by_source": "By source: {parts}.",
        "by_lang": "By language: {parts}.",
        "themes": "**{n}** themes were mentioned; the largest: {parts}.",
        "alerts_n": "**{n}** alerts in the latest week.",
        "top_needs": "Top needs",
        "col_rank": "#",
        "col_theme": "Theme",
        "col_units": "Units",
        "col_share": "Share",
        "col_change": "Change",
        "col_keywords": "Keywords",
        "col_need": "Need",
        "changed": "What changed since the last period",
        "growing": "Growing",
        "declining": "Declining",
        "new": "New themes",
        "gone": "Merged or gone",
        "change_line": "{theme}: {now} mentions ({share}), was {before} ({pshare})",
        "none": "None.",
        "alerts": "Alerts",
        "no_alerts": "No alerts in the latest week.",
        "alert_spike": "Spike",
        "alert_emerging": "Emerging",
        "alert_died": "Gone quiet",
        "alert_proposed": "Proposed theme",
        "alert_line": "{count} mentions in the week of {week} (expected {baseline})",
        "follow_ups": "Recommended follow-ups",
        "follow_alert": "look into it: {kind} alert, {count} mentions in the week of {week}.",
        "follow_growth": "look into it: up from {before} to {now} mentions on the previous period.",
        "follow_top": "keep on the roadmap: {now} mentions, {share} of all feedback.",
        "ticket": "ticket",
        "call": "call",
        "review": "review",
        "interview": "interview",
        "survey": "survey",
        "zh": "Chinese",
        "en": "English",
        "undated": "undated",
        "lineage_merged": "{theme} merged into {other} ({at})",
        "lineage_died": "{theme} no longer forms a theme ({at})",
        "col_priority": "Priority",
        "priority_needs": "Top needs by priority",
        "priority_line": "priority {p} of 100 ({parts})",
        "part_volume": "volume",
        "part_growth": "growth",
        "part_negativity": "negativity",
        "part_churn_risk": "churn risk",
        "part_effort": "effort",
        "gap_line": "Need gap {gap}: {e} of {n} units show the need, {r} ask for something.",
        "churn_line": "Churn risk: {p} of units mention leaving or cancelling.",
        "rating_line": "Rating: {mean} {field} against {rest} for the rest "
        "({impact}; {n} vs {rest_n} ratings).",
        "rating": "stars",
        "nps": "NPS",
        "csat": "CSAT",
        "unstated": "Unstated needs",
        "unstated_line": "{statement}: {theme}; need gap {gap}, {e} of {n} units show the need, "
        "{r} ask, {w} describe a workaround.",
        "no_unstated": "No theme meets the unstated-need rule.",
        "gap_formula": "How it is decided: need_gap = 1 \u2212 min(1, R / ({par}\u00b7(R + E))) "
        "\u00d7 facet overlap, where E counts pains and units with a workaround, effort or "
        "confusion signal and R explicit requests; a theme is an unstated need when need_gap "
        "\u2265 {gap}, evidence \u2265 {ev} of its units, requests \u2264 {rq} and "
        "workaround/effort/confusion \u2265 {wk}.",
        "journey": "Customer journey",
        "col_stage": "Stage",
        "col_top_themes": "Main themes",
        "workaround": "workaround",
        "effort": "effort",
        "confusion": "confusion",
        "pain": "pain",
        "stage_discover": "Discover",
        "stage_evaluate": "Evaluate",
        "stage_purchase": "Purchase",
        "stage_onboard": "Onboard",
        "stage_use": "Use",
        "stage_support": "Support",
        "stage_renew_churn": "Renew / churn",
        "stage_unknown": "Not analysed",
    },
    "zh": {
        "title": "需求洞察报告",
        "period": "统计周期：{start} 至 {end}（{weeks} 周），对比上一周期 {pstart} 至 {pend}。",
        "generated": "工作区 `{ws}`，生成于 {at}。",
        "summary": "摘要",
        "units": "本期共 **{n}** 条反馈（较上期 {change}）。",
        "units_new": "本期共 **{n}** 条反馈（上期没有反馈）。",
        "by_source": "按来源：{parts}。",
        "by_lang": "按语言：{parts}。",
        "themes": "共涉及 **{n}** 个主题，最大的是：{parts}。",
        "alerts_n": "最近一周有 **{n}** 条异常提醒。",
        "top_needs": "主要需求",
        "col_rank": "#",
        "col_theme": "主题",
        "col_units": "条数",
        "col_share": "占比",
        "col_change": "变化",
        "col_keywords": "关键词",
        "col_need": "需求",
        "changed": "与上一周期相比的变化",
        "growing": "上升",
        "declining": "下降",
        "new": "新出现的主题",
        "gone": "合并或消失的主题",
        "change_line": "{theme}：{now} 次（{share}），上期 {before} 次（{pshare}）",
        "none": "无。",
        "alerts": "异常提醒",
        "no_alerts": "最近一周没有异常提醒。",
        "alert_spike": "激增",
        "alert_emerging": "新兴",
        "alert_died": "沉寂",
        "alert_proposed": "建议新主题",
        "alert_line": "{week} 这一周被提到 {count} 次（预期 {baseline} 次）",
        "follow_ups": "建议跟进",
        "follow_alert": "建议排查：{kind}提醒，{week} 这一周被提到 {count} 次。",
        "follow_growth": "建议排查：提及次数由上期 {before} 次升至 {now} 次。",
        "follow_top": "建议持续跟进：本期 {now} 次，占全部反馈 {share}。",
        "ticket": "工单",
        "call": "通话",
        "review": "评价",
        "interview": "访谈",
        "survey": "问卷",
        "zh": "中文",
        "en": "英文",
        "undated": "无日期",
        "lineage_merged": "{theme} 并入 {other}（{at}）",
        "lineage_died": "{theme} 不再构成主题（{at}）",
        "col_priority": "优先级",
        "priority_needs": "优先需求",
        "priority_line": "优先级 {p}（满分 100；{parts}）",
        "part_volume": "声量",
        "part_growth": "增长",
        "part_negativity": "负面程度",
        "part_churn_risk": "流失风险",
        "part_effort": "费力程度",
        "gap_line": "需求缺口 {gap}：{n} 条反馈中 {e} 条体现出需求，{r} 条明确提出诉求。",
        "churn_line": "流失风险：{p} 的反馈提到放弃或取消。",
        "rating_line": "评分：{field}均值 {mean}，其他反馈 {rest}"
        "（{impact}；{n} 条对 {rest_n} 条评分）。",
        "rating": "星级",
        "nps": "NPS ",
        "csat": "CSAT ",
        "unstated": "未明说的需求",
        "unstated_line": "{statement}：{theme}；需求缺口 {gap}，{n} 条中 {e} 条体现需求、"
        "{r} 条明确提出、{w} 条描述了变通做法。",
        "no_unstated": "没有主题满足“未明说的需求”的判定条件。",
        "gap_formula": "判定方法：need_gap = 1 \u2212 min(1, R / ({par}\u00b7(R + E))) \u00d7 "
        "关注点重合度；E 为痛点以及带有变通做法、费力或困惑信号的反馈条数，R 为明确提出的诉求条数；"
        "need_gap \u2265 {gap}、体现需求的反馈 \u2265 {ev}、明确诉求 \u2264 {rq}、"
        "变通/费力/困惑 \u2265 {wk} 的主题视为未明说的需求。",
        "journey": "客户旅程",
        "col_stage": "阶段",
        "col_top_themes": "主要主题",
        "workaround": "变通做法",
        "effort": "费力",
        "confusion": "困惑",
        "pain": "痛点",
        "stage_discover": "认知",
        "stage_evaluate": "评估",
        "stage_purchase": "购买",
        "stage_onboard": "上手",
        "stage_use": "使用",
        "stage_support": "求助",
        "stage_renew_churn": "续费 / 流失",
        "stage_unknown": "未分析",
    },
}

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
"""Characters that mean something inside a line; customer text never starts one (it follows a
list marker or a quotation mark), so line-start syntax (#, -, 1.) cannot trigger."""


def md_text(text: str) -> str:
    """Customer or theme text as inline Markdown that renders exactly as written."""
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


@dataclass(frozen=True, slots=True)
class _Window:
    start: int
    end: int
    """Inclusive week indexes into the report's `weeks`."""

    def total(self, cells: Mapping[str, Sequence[int]]) -> int:
        if self.end < self.start:
            return 0
        return sum(sum(counts[self.start : self.end + 1]) for counts in cells.values())


def render_markdown(data: Mapping[str, Any], lang: str = "zh", since: date | None = None) -> str:
    """The monthly insight report of report data (built without `since`, see module doc)."""
    s = STRINGS["zh" if lang == "zh" else "en"]
    weeks = [date.fromisoformat(w) for w in data["weeks"]]
    lines = [f"# {s['title']} \u00b7 {md_text(data['workspace'])}", ""]
    if not weeks:
        return "\n".join([*lines, s["none"], ""])
    now, before = _windows(weeks, since)
    lines += [
        s["period"].format(
            start=_day(weeks[now.start], lang),
            end=_day(weeks[now.end] + timedelta(days=6), lang),
            weeks=now.end - now.start + 1,
            pstart=_day(weeks[before.start], lang) if before.end >= before.start else "\u2013",
            pend=_day(weeks[before.end] + timedelta(days=6), lang)
            if before.end >= before.start
            else "\u2013",
        ),
        s["generated"].format(ws=md_text(data["workspace"]), at=data["generated_at"][:10]),
        "",
    ]
    volume_now = now.total(data["volume"]["cells"])
    volume_before = before.total(data["volume"]["cells"])
    stats = _theme_stats(data, now, before, volume_now, volume_before)
    lines += _summary(data, s, lang, stats, now, volume_now, volume_before)
    lines += _top_needs(s, stats)
    lines += _priority_needs(s, lang, stats, weeks[now.start])
    lines += _unstated(data, s, lang, weeks[now.start])
    lines += _journey(data, s, lang, stats, now, volume_now)
    lines += _changes(data, s, lang, stats, weeks[now.start])
    lines += _alerts(data, s, lang)
    lines += _follow_ups(data, s, lang, stats, weeks, now)
    return "\n".join(lines)


def _windows(weeks: Sequence[date], since: date | None) -> tuple[_Window, _Window]:
    last = len(weeks) - 1
    if since is None:
        first = max(0, last - DEFAULT_WEEKS + 1)
    else:
        monday = since - timedelta(days=since.weekday())
        first = next((i for i, w in enumerate(weeks) if w >= monday), last)
    length = last - first + 1
    return _Window(first, last), _Window(max(0, first - length), first - 1)


def _theme_stats(
    data: Mapping[str, Any], now: _Window, before: _Window, volume_now: int, volume_before: int
) -> list[dict[str, Any]]:
    out = []
    for theme in data["themes"]:
        if theme["level"] != 0:
            continue
        n, p = now.total(theme["cells"]), before.total(theme["cells"])
        out.append(
            {
                "theme": theme,
                "now": n,
                "before": p,
                "share": n / volume_now if volume_now else 0.0,
                "pshare": p / volume_before if volume_before else 0.0,
            }
        )
    key = "priority" if any("priority" in x["theme"] for x in out) else None
    out.sort(key=lambda x: (-(x["theme"].get(key) or 0) if key else 0, -x["now"], x["theme"]["id"]))
    return out


def _name(theme: Mapping[str, Any], lang: str) -> str:
    name = theme["name"] if theme.get("curated_name") else theme["names"].get(lang)
    return f"{md_text(name or theme['name'])} ({theme['id']})"


def _day(day: date, lang: str) -> str:
    return (
        f"{day.year}年{day.month}月{day.day}日"
        if lang == "zh"
        else f"{day:%b} {day.day}, {day.year}"
    )


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _signed_pct(x: float) -> str:
    return f"{x:+.1%}"


def _summary(
    data: Mapping[str, Any],
    s: Mapping[str, str],
    lang: str,
    stats: Sequence[Mapping[str, Any]],
    now: _Window,
    volume_now: int,
    volume_before: int,
) -> list[str]:
    lines = [f"## {s['summary']}", ""]
    if volume_before:
        change = _signed_pct(volume_now / volume_before - 1)
        lines.append("- " + s["units"].format(n=f"{volume_now:,}", change=change))
    else:
        lines.append("- " + s["units_new"].format(n=f"{volume_now:,}"))
    for dim, key in ((0, "by_source"), (1, "by_lang")):
        counts: dict[str, int] = {}
        for cell, weekly in data["volume"]["cells"].items():
            value = cell.split("|")[dim]
            counts[value] = counts.get(value, 0) + sum(weekly[now.start : now.end + 1])
        parts = ", ".join(
            f"{s.get(v, md_text(v))} {n:,}" for v, n in sorted(counts.items(), key=lambda x: -x[1])
        )
        lines.append("- " + s[key].format(parts=parts))
    active = [x for x in stats if x["now"]]
    biggest = sorted(active, key=lambda x: -x["now"])[:3]
    parts = ", ".join(f"{_name(x['theme'], lang)} {_pct(x['share'])}" for x in biggest)
    lines.append("- " + s["themes"].format(n=len(active), parts=parts))
    lines += ["- " + s["alerts_n"].format(n=len(data["alerts"])), ""]
    return lines


def _top_needs(s: Mapping[str, str], stats: Sequence[Mapping[str, Any]]) -> list[str]:
    with_need = any("need_statement" in x["theme"] for x in stats)
    with_priority = any("priority" in x["theme"] for x in stats)
    head = [s["col_rank"], s["col_theme"], s["col_units"], s["col_share"], s["col_change"]]
    head += [s["col_priority"]] if with_priority else []
    head += [s["col_need"]] if with_need else []
    head += [s["col_keywords"]]
    lines = [f"## {s['top_needs']}", "", "| " + " | ".join(head) + " |"]
    numeric = (0, 2, 3, 4, 5) if with_priority else (0, 2, 3, 4)
    rule = ("---:" if i in numeric else "---" for i in range(len(head)))
    lines.append("|" + "|".join(rule) + "|")
    lang = "zh" if s is STRINGS["zh"] else "en"
    for i, x in enumerate([x for x in stats if x["now"]][:TOP_NEEDS], 1):
        theme = x["theme"]
        change = _signed_pct(x["share"] - x["pshare"]).replace("%", " pp")
        row = [str(i), _name(theme, lang), f"{x['now']:,}", _pct(x["share"]), change]
        if with_priority:
            row.append(f"{theme['priority']:.1f}" if "priority" in theme else "\u2013")
        if with_need:
            row.append(md_text(_statement(theme.get("need_statement"), lang)))
        words = theme["keywords"].get(lang) or next(iter(theme["keywords"].values()), [])
        row.append(md_text(" / ".join(words[:5])))
        lines.append("| " + " | ".join(row) + " |")
    return [*lines, ""]


def _statement(statement: Mapping[str, str] | str | None, lang: str) -> str:
    """A need statement in `lang`, else in the other language: a theme said only in English
    still has its need in the Chinese report."""
    if not statement:
        return ""
    if isinstance(statement, str):
        return statement
    return statement.get(lang) or next(iter(statement.values()), "")


def _evidence_lines(
    s: Mapping[str, str], lang: str, quotes: Sequence[Mapping[str, Any]], start: date, n: int
) -> list[str]:
    """Quotes as Markdown block quotes under a list item, from the period when there are any
    (else the newest ones), each with why it is evidence and where it came from."""
    chosen = [q for q in quotes if _quote_in(q, start)] or list(quotes)
    lines = []
    for q in chosen[:n]:
        when = _day(date.fromisoformat(q["created_at"][:10]), lang) if q["created_at"] else ""
        where = ", ".join(
            x
            for x in (s.get(q["reason"]), s.get(q["source"], q["source"]), when, q["external_id"])
            if x
        )
        lines.append(f"   > \u201c{md_text(q['text'])}\u201d \u2014 {md_text(where)}")
    return lines


def _priority_needs(
    s: Mapping[str, str], lang: str, stats: Sequence[Mapping[str, Any]], start: date
) -> list[str]:
    """The highest-priority needs of the period, each with its statement, why it ranks where
    it does (priority parts, need gap, churn risk, rating) and evidence quotes."""
    ranked = [x for x in stats if x["now"] and "priority" in x["theme"]]
    if not ranked:
        return []
    lines = [f"## {s['priority_needs']}", ""]
    for i, x in enumerate(ranked[:PRIORITY_NEEDS], 1):
        theme = x["theme"]
        parts = theme.get("priority_parts") or {}
        told = ", ".join(f"{s['part_' + k]} {parts[k]:.1f}" for k in PRIORITY_PARTS if k in parts)
        lines.append(
            f"{i}. **{_name(theme, lang)}**: "
            + s["priority_line"].format(p=f"{theme['priority']:.1f}", parts=told)
        )
        statement = _statement(theme.get("need_statement"), lang)
        if statement:
            lines.append(f"   - {md_text(statement)}")
        if "need_gap" in theme:
            lines.append(
                "   - "
                + s["gap_line"].format(
                    gap=f"{theme['need_gap']:.2f}",
                    e=theme.get("need_evidence", 0),
                    n=theme.get("need_units", 0),
                    r=theme.get("need_requests", 0),
                )
            )
        if theme.get("churn_risk"):
            lines.append("   - " + s["churn_line"].format(p=_pct(theme["churn_risk"])))
        rating = theme.get("rating_impact")
        if rating:
            lines.append(
                "   - "
                + s["rating_line"].format(
                    field=s[rating["field"]],
                    mean=f"{rating['mean']:.2f}",
                    rest=f"{rating['rest_mean']:.2f}",
                    impact=f"{rating['impact']:+.2f}",
                    n=rating["n"],
                    rest_n=rating["rest_n"],
                )
            )
        lines += _evidence_lines(s, lang, theme.get("evidence", ()), start, EVIDENCE_PER_NEED)
        lines.append("")
    return lines


def _unstated(data: Mapping[str, Any], s: Mapping[str, str], lang: str, start: date) -> list[str]:
    """Needs customers show (pains, workarounds, effort, confusion) but rarely ask for, with
    the rule that found them so a reader can judge it."""
    method = data.get("needs_method")
    if method is None:
        return []
    themes = {t["id"]: t for t in data["themes"]}
    lines = [f"## {s['unstated']}", ""]
    needs = [n for n in data.get("unstated_needs", ()) if n["theme_id"] in themes]
    for i, n in enumerate(needs, 1):
        theme = themes[n["theme_id"]]
        statement = _statement(n["statement"], lang) or _name(theme, lang)
        lines.append(
            f"{i}. "
            + s["unstated_line"].format(
                statement=f"**{md_text(statement)}**",
                theme=_name(theme, lang),
                gap=f"{n['need_gap']:.2f}",
                e=n["need_evidence"],
                n=n["units"],
                r=n["need_requests"],
                w=n["signals"].get("workaround", 0),
            )
        )
        lines += _evidence_lines(s, lang, n["evidence"], start, EVIDENCE_PER_NEED + 1)
    if not needs:
        lines.append(s["no_unstated"])
    formula = s["gap_formula"].format(
        par=method["request_par"],
        gap=method["unstated_gap"],
        ev=_pct(method["unstated_evidence"]),
        rq=_pct(method["unstated_requests"]),
        wk=_pct(method["unstated_workarounds"]),
    )
    return [*lines, "", f"_{md_text(formula)}_", ""]


def _journey(
    data: Mapping[str, Any],
    s: Mapping[str, str],
    lang: str,
    stats: Sequence[Mapping[str, Any]],
    now: _Window,
    volume_now: int,
) -> list[str]:
    """Units per lifecycle stage in the period, and the themes that most of each stage's
    units are about: where on the journey customers struggle."""
    if "stage" not in data["dims"]:
        return []
    at = data["dims"].index("stage")

    def by_stage(cells: Mapping[str, Sequence[int]]) -> dict[str, int]:
        out: dict[str, int] = {}
        for key, weekly in cells.items():
            stage = key.split("|")[at]
            out[stage] = out.get(stage, 0) + sum(weekly[now.start : now.end + 1])
        return out

    totals = by_stage(data["volume"]["cells"])
    themes = [(x, by_stage(x["theme"]["cells"])) for x in stats if x["now"]]
    head = [s["col_stage"], s["col_units"], s["col_share"], s["col_top_themes"]]
    lines = [f"## {s['journey']}", "", "| " + " | ".join(head) + " |", "|---|---:|---:|---|"]
    for stage in data["values"]["stage"]:
        n = totals.get(stage, 0)
        if not n:
            continue
        top = sorted(((t, c[stage]) for t, c in themes if c.get(stage)), key=lambda x: -x[1])[
            :THEMES_PER_STAGE
        ]
        names = ", ".join(f"{_name(t['theme'], lang)} {c:,}" for t, c in top)
        share = _pct(n / volume_now) if volume_now else "\u2013"
        lines.append(f"| {s['stage_' + stage]} | {n:,} | {share} | {names} |")
    return [*lines, ""]


def _changes(
    data: Mapping[str, Any],
    s: Mapping[str, str],
    lang: str,
    stats: Sequence[Mapping[str, Any]],
    start: date,
) -> list[str]:
    lines = [f"## {s['changed']}", ""]
    eligible = [x for x in stats if max(x["now"], x["before"]) >= MIN_CHANGE_COUNT]
    growing = sorted(
        [x for x in eligible if x["share"] > x["pshare"]], key=lambda x: x["pshare"] - x["share"]
    )
    declining = sorted(
        [x for x in eligible if x["share"] < x["pshare"]], key=lambda x: x["share"] - x["pshare"]
    )
    for title, items in ((s["growing"], growing[:5]), (s["declining"], declining[:5])):
        lines += [f"### {title}", ""]
        lines += [
            "- "
            + s["change_line"].format(
                theme=_name(x["theme"], lang),
                now=x["now"],
                share=_pct(x["share"]),
                before=x["before"],
                pshare=_pct(x["pshare"]),
            )
            for x in items
        ] or [s["none"]]
        lines.append("")
    births = [e["at"] for t in data["themes"] for e in t["history"] if e["kind"] == "born"]
    first_run = min(births, default=None)
    born = [
        x
        for x in stats
        if any(
            _in(e, start, ("born", "split")) and e["at"] != first_run for e in x["theme"]["history"]
        )
    ]
    lines += [f"### {s['new']}", ""]
    lines += [f"- {_name(x['theme'], lang)}: {x['now']}" for x in born] or [s["none"]]
    lines += ["", f"### {s['gone']}", ""]
    gone = []
    for theme in data["themes"]:
        for e in theme["history"]:
            if _in(e, start, ("merged", "died")):
                key = "lineage_merged" if e["kind"] == "merged" else "lineage_died"
                other = ", ".join(e["other_ids"])
                at = _day(date.fromisoformat(e["at"]), lang)
                gone.append("- " + s[key].format(theme=_name(theme, lang), other=other, at=at))
    return [*lines, *(gone or [s["none"]]), ""]


def _in(event: Mapping[str, Any], start: date, kinds: Sequence[str]) -> bool:
    """Whether a lineage event of one of `kinds` happened in the period. Themes born in the
    workspace's first run are not new: they are new only against a history without them."""
    return event["kind"] in kinds and date.fromisoformat(event["at"]) >= start


def _alerts(data: Mapping[str, Any], s: Mapping[str, str], lang: str) -> list[str]:
    themes = {t["id"]: t for t in data["themes"]}
    lines = [f"## {s['alerts']}", ""]
    for a in data["alerts"]:
        theme = themes.get(a["theme_id"])
        who = _name(theme, lang) if theme else md_text(a["theme_id"])
        line = s["alert_line"].format(
            count=a["count"],
            week=_day(date.fromisoformat(a["period"]), lang),
            baseline=f"{a['baseline']:.1f}",
        )
        lines.append(f"- **{s['alert_' + a['kind']]}** {who}: {line}")
        if a["kind"] == "proposed":
            lines.append(f"  {md_text(a['message'])}")
    if not data["alerts"]:
        lines.append(s["no_alerts"])
    return [*lines, ""]


def _follow_ups(
    data: Mapping[str, Any],
    s: Mapping[str, str],
    lang: str,
    stats: Sequence[Mapping[str, Any]],
    weeks: Sequence[date],
    now: _Window,
) -> list[str]:
    """Themes worth a look, most urgent first: alerted, then fastest growing, then largest;
    each with its reason and quotes from the period as evidence."""
    by_id = {x["theme"]["id"]: x for x in stats}
    picked: dict[str, str] = {}
    for a in data["alerts"]:
        if a["kind"] in ("spike", "emerging") and a["theme_id"] in by_id:
            picked.setdefault(
                a["theme_id"],
                s["follow_alert"].format(
                    kind=s["alert_" + a["kind"]],
                    count=a["count"],
                    week=_day(date.fromisoformat(a["period"]), lang),
                ),
            )
    for x in sorted(stats, key=lambda x: x["pshare"] - x["share"]):
        if x["now"] >= MIN_CHANGE_COUNT and x["now"] > x["before"]:
            picked.setdefault(
                x["theme"]["id"], s["follow_growth"].format(before=x["before"], now=x["now"])
            )
    for x in stats:
        if x["now"]:
            picked.setdefault(
                x["theme"]["id"], s["follow_top"].format(now=x["now"], share=_pct(x["share"]))
            )
    start = weeks[now.start]
    lines = [f"## {s['follow_ups']}", ""]
    for i, (theme_id, reason) in enumerate(list(picked.items())[:FOLLOW_UPS], 1):
        theme = by_id[theme_id]["theme"]
        lines.append(f"{i}. **{_name(theme, lang)}**: {reason}")
        quotes = [q for q in theme["quotes"] if _quote_in(q, start)] or theme["quotes"]
        for q in quotes[:QUOTES_PER_FOLLOW_UP]:
            when = _day(date.fromisoformat(q["created_at"][:10]), lang) if q["created_at"] else ""
            where = ", ".join(
                x for x in (s.get(q["source"], q["source"]), when, q.get("external_id")) if x
            )
            lines.append(f"   > \u201c{md_text(q['text'])}\u201d \u2014 {md_text(where)}")
        lines.append("")
    return lines


def _quote_in(quote: Mapping[str, Any], start: date) -> bool:
    return bool(quote["created_at"]) and date.fromisoformat(quote["created_at"][:10]) >= start
