"""voc.needs on real Chinese and English sentences: intent, sentiment (with negation and
contrast), need signals, journey stage, and the per-theme need gap, unstated needs and priority
on constructed cases."""

from __future__ import annotations

import math
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from voc.needs import (
    LEXICON_PATH,
    NeedsAnalyzer,
    NeedsParams,
    UnitContext,
    UnitNeeds,
    _alternation,
    _compile,
    _compile_search,
    _search,
    default_analyzer,
    facet_overlap,
    need_gap,
    rank_priorities,
    record_ratings,
    theme_needs,
    unstated_needs,
)


@pytest.fixture(scope="module")
def analyzer() -> NeedsAnalyzer:
    return default_analyzer()


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("提现三天了还没到账，太慢了！", "pain"),
        ("下单以后三天都没发货。", "pain"),
        ("支付宝转账都不收手续费，你们凭什么收？", "pain"),
        ("这个手续费到底是怎么算的，完全看不懂。", "pain"),
        ("希望能加一个夜间模式。", "request"),
        ("能不能把转账限额调高一点？", "request"),
        ("账单能导出吗？", "question"),
        ("请问怎么修改收货地址？", "question"),
        ("客服小李很耐心，一次就帮我解决了，点赞！", "praise"),
        ("我一般都是周末才用这个App。", "other"),
        ("The withdrawal has been pending for five days.", "pain"),
        ("PayPal lets you do this for free, why can't you?", "pain"),
        ("Please add a dark mode.", "request"),
        ("It would be great if I could export to CSV.", "request"),
        ("Can you add Apple Pay?", "request"),
        ("Can I export my statements?", "question"),
        ("How do I change my shipping address?", "question"),
        ("The agent was patient and fixed it in one call, thank you!", "praise"),
        ("I usually shop on weekends.", "other"),
        ("App 老是 crash，根本没法用。", "pain"),
        ("The 退款 took forever.", "pain"),
    ],
)
def test_intent_of_real_sentences(analyzer: NeedsAnalyzer, text: str, intent: str) -> None:
    assert analyzer.analyze(text).intent == intent


@pytest.mark.parametrize(
    ("text", "sentiment"),
    [
        ("不是很满意，退款拖了两个星期。", "negative"),
        ("用了半年，没什么问题。", "positive"),
        ("界面好看是好看，就是经常闪退。", "negative"),
        ("Not bad at all, the new version is much faster.", "positive"),
        ("I can't say I'm happy with the refund process.", "negative"),
        ("Love the design, but it crashes every time I open the camera.", "negative"),
        ("我一般都是周末才用这个App。", "neutral"),
        ("提現三天了還沒到賬，太慢了！", "negative"),
    ],
)
def test_sentiment_reads_negation_and_contrast(
    analyzer: NeedsAnalyzer, text: str, sentiment: str
) -> None:
    result = analyzer.analyze(text)
    assert result.sentiment == sentiment
    assert -1.0 <= result.sentiment_score <= 1.0


@pytest.mark.parametrize(
    ("text", "signals"),
    [
        ("每个月我都要把账单一条条抄到Excel里。", ("workaround",)),
        ("I export everything to Excel every month because there is no report.", ("workaround",)),
        ("I had to explain my problem to four different agents.", ("effort",)),
        ("打了三次客服电话都没人接。", ("effort",)),
        ("这个手续费到底是怎么算的，完全看不懂。", ("confusion",)),
        ("I have no idea what this charge is for.", ("confusion",)),
        ("再这样乱扣费我就销户，换别家了。", ("churn_risk", "comparison")),
        ("If this happens again I'm cancelling my subscription.", ("churn_risk",)),
        ("PayPal lets you do this for free, why can't you?", ("comparison",)),
        ("急！明天就要交房租，钱还卡在提现里。", ("urgency",)),
        ("Love the design, but it crashes every time I open the camera.", ()),
        ("Can you add Apple Pay?", ()),
    ],
)
def test_need_signals(analyzer: NeedsAnalyzer, text: str, signals: tuple[str, ...]) -> None:
    assert analyzer.analyze(text).signals == signals


@pytest.mark.parametrize(
    ("text", "signal"),
    [
        # How customers say they get around a gap (needs-lexicon-9): a habit, a detour through
        # another app or a person, a routine of their own.
        ("网银老是登不上，我只好去柜台办。", "workaround"),
        ("每次转账都得先截图再发给会计。", "workaround"),
        ("我都是先转到别的App再付款。", "workaround"),
        ("付不了款的时候我就让朋友代付。", "workaround"),
        ("我现在工资一到就全部转出来，免得到时候卡住。", "workaround"),
        ("我把自动扣款的卡解绑了，怕它再乱扣。", "workaround"),
        ("The transfer kept failing so I went to the branch instead.", "workaround"),
        ("I ask my brother to pay for me because my card gets declined.", "workaround"),
        ("I've started paying the rent a week early.", "workaround"),
        ("The only way I got an answer was by posting on their forum.", "workaround"),
        ("So I just use another app for that now.", "workaround"),
        ("I break big payments into smaller ones so they go through.", "workaround"),
        ("This is my third email and each reply asks for the same screenshots again.", "effort"),
        ("客服让我问银行，银行又让我问你们客服。", "effort"),
        ("I still can't work out which of the two balances is right.", "confusion"),
        ("这笔扣款到底是什么，我完全没搞清楚。", "confusion"),
    ],
)
def test_workaround_effort_and_confusion_phrasings(
    analyzer: NeedsAnalyzer, text: str, signal: str
) -> None:
    assert signal in analyzer.analyze(text).signals


@pytest.mark.parametrize(
    "text",
    [
        "Should I turn off the Wi-Fi before setting up the router?",
        "请帮我把账单改成电子账单。",
        "年费扣款前能不能提前一周提醒？",
        "Will I lose anything if I reinstall the app?",
    ],
)
def test_no_workaround_in_questions_and_requests_about_one(
    analyzer: NeedsAnalyzer, text: str
) -> None:
    assert "workaround" not in analyzer.analyze(text).signals


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("朋友推荐我下载的，说付款很快。", "discover"),
        ("A friend recommended the app and I love it.", "discover"),
        ("在考虑要不要开会员，先试用一下看看。", "evaluate"),
        ("I'm comparing plans before I sign up.", "evaluate"),
        ("下单以后三天都没发货。", "purchase"),
        ("My order never arrived and tracking hasn't updated in a week.", "purchase"),
        ("注册的时候实名认证一直失败。", "onboard"),
        ("Signing up took forever, the verification kept failing.", "onboard"),
        ("I waited on hold for an hour and nobody answered.", "support"),
        ("会员自动续费扣了我68块，我根本没同意。", "renew_churn"),
        ("I was charged for a renewal I never agreed to.", "renew_churn"),
        ("App 老是 crash，根本没法用。", "use"),
    ],
)
def test_journey_stage_from_text(analyzer: NeedsAnalyzer, text: str, stage: str) -> None:
    assert analyzer.analyze(text).stage == stage


def test_stage_from_record_metadata_when_the_text_has_no_cue(analyzer: NeedsAnalyzer) -> None:
    text = "It just stopped working yesterday."
    assert analyzer.analyze(text).stage_from == "default"
    tagged = analyzer.analyze(text, {"tags": ["billing", "checkout"]})
    assert (tagged.stage, tagged.stage_from) == ("purchase", "metadata")
    explicit = analyzer.analyze(text, {"stage": "Onboard"})
    assert (explicit.stage, explicit.stage_from) == ("onboard", "metadata")
    assert analyzer.analyze(text, {"stage": "somewhere"}).stage == "use"


def test_fee_is_not_mistaken_for_renewal(analyzer: NeedsAnalyzer) -> None:
    # "手续费" (fee) holds "续费" (renewal fee): a classic Chinese substring trap.
    assert analyzer.analyze("提现被扣了手续费。").stage == "use"


def test_a_broken_lexicon_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from voc.errors import InputError

    bad = tmp_path / "needs.toml"
    bad.write_text("version = [", encoding="utf-8")
    with pytest.raises(InputError, match="not valid TOML"):
        NeedsAnalyzer(bad)
    with pytest.raises(InputError, match="not found"):
        NeedsAnalyzer(tmp_path / "missing.toml")


# -- the lexicon's patterns: trie and plain alternation -------------------------------------

# Real sentences that hit many entries, overlapping ones among them ("不方便" over "方便", "not
# working" over "working"), entries with groups, classes and look-behinds, English inside
# Chinese, and letters that IGNORECASE matches to ASCII ones (dotless ı, long ſ).
TRICKY = [
    "App老是crash，根本没法用，不方便，也不好用。",
    "不是很满意，退款拖了两个星期，终于好了但是体验很差。",
    "界面好看是好看，就是经常闪退，用了半年没什么问题。",
    "打了三次客服电话都没人接，第二次打还让我重新说一遍。",
    "我都是先转到别的App再付款，免得又付不了。",
    "客服让我问银行，银行又让我问你们客服。能不能加个导出？账单能导出吗？",
    "12天了还没到账，等了3个月，提現三天了還沒到賬！！",
    "It's not working, I can't log in and I cannot login either. Not bad otherwise.",
    "I've started paying the rent a week early because the app can't handle it.",
    "Should I turn off the Wi-Fi before setting up the router? I had to restart it twice.",
    "This is my 3rd call and the second time I've explained it. Why can't you fix it?",
    "How do I change my shipping address? Please add a dark mode, it would help a lot.",
    "ſhipping ıs ſlow and the refund never arrived; working hard, not working at all.",
    "Love the design, but it crashes every time. PayPal lets you do this for free.",
    "homeworking, networking, crashed!!, app-store, e-mail, 5g, wi-fi, i'm, im, i'd",
    "",
]


def _lexicon_labels() -> list[Any]:
    """Every (Chinese, English) entry list of the lexicon, and the sentiment lists split by
    strength as the analyzer splits them."""
    lex = tomllib.loads(LEXICON_PATH.read_text(encoding="utf-8"))
    s, i = lex["sentiment"], lex["intent"]
    out = [
        pytest.param(s[f"{name}_zh"], s[f"{name}_en"], id=name)
        for name in ("contrast", "positive", "negative", "no_problem")
    ]
    strong = set(s["strong_zh"]) | set(s["strong_en"])
    out += [
        pytest.param(
            *[[t for t in s[f"{name}_{lang}"] if (t in strong) == flag] for lang in ("zh", "en")],
            id=f"{name}-{'strong' if flag else 'weak'}",
        )
        for name in ("positive", "negative")
        for flag in (False, True)
    ]
    out += [
        pytest.param(i[key], i.get(key[:-3] + "_en", []), id=key[:-3])
        for key in i
        if key.endswith("_zh")
    ]
    for section in ("signals", "stages", "facets"):
        out += [
            pytest.param(v["zh"], v["en"], id=f"{section}.{k}") for k, v in lex[section].items()
        ]
    return out


@pytest.mark.parametrize(("zh", "en"), _lexicon_labels())
def test_trie_pattern_matches_like_the_plain_alternation(zh: list[str], en: list[str]) -> None:
    fast, plain, parts = _compile(zh, en), _alternation(zh, en), _compile_search(zh, en)
    if plain is None:  # no entries (there are no strong positive terms)
        assert fast is None and parts == ()
        return
    assert fast is not None
    for text in TRICKY:
        t = text.lower()  # as `analyze` reads a text
        assert [m.span() for m in fast.finditer(t)] == [m.span() for m in plain.finditer(t)], text
        assert fast.findall(t) == plain.findall(t)
        assert _search(parts, t) == bool(plain.search(t)), text


def test_trie_pattern_takes_the_longest_entry_and_keeps_edges_and_look_behinds() -> None:
    zh = ["方便", "不方便", "不", "终于(正常|好了)", "终于", "[?？]"]
    en = ["work", "working", "not working", "can't (log|login)", "(?<!should )(i|we) turn off"]
    text = (
        "终于好了，终于，不方便？不行 app not working; can't login. i turn off, "
        "should i turn off, homework, work, working"
    )
    expected = [
        "终于好了",
        "终于",
        "不方便",
        "？",
        "不",
        "not working",
        "can't login",
        "i turn off",
        "work",
        "working",
    ]
    fast, plain = _compile(zh, en), _alternation(zh, en)
    assert fast is not None and plain is not None
    assert [m.group() for m in fast.finditer(text)] == expected
    assert [m.group() for m in plain.finditer(text)] == expected
    assert fast.pattern.startswith("终(?i:于")  # the trie, not the alternation


def test_lower_case_text_holds_only_its_own_lower_case_characters() -> None:
    # The trie's first characters and word edges are written for lower-case text (`analyze`
    # lowers every text): there, "I", "S" and the Kelvin sign cannot occur, but "ı" and "ſ" can.
    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    assert all(c.lower() == c for c in set(everything.lower()))


# -- per theme: constructed cases ---------------------------------------------------------


def _unit(intent: str, signals: tuple[str, ...] = (), facets: tuple[str, ...] = ()) -> UnitNeeds:
    sentiment = {"pain": "negative", "praise": "positive"}.get(intent, "neutral")
    score = {"negative": -0.5, "positive": 0.5}.get(sentiment, 0.0)
    return UnitNeeds(intent, sentiment, score, signals, "use", "text", facets)


def _ctx(
    n: int, lang: str = "en", record: str = "r", start: datetime | None = None
) -> list[UnitContext]:
    day = start or datetime(2026, 9, 1, tzinfo=UTC)
    return [
        UnitContext(f"{record}{i}", lang, "ticket", day + timedelta(days=i % 50)) for i in range(n)
    ]


def test_need_gap_is_one_when_nobody_asks_and_zero_when_requests_match_the_pains() -> None:
    assert need_gap(0, 20, {}, {"speed": 20}) == 1.0
    assert need_gap(10, 10, {"speed": 10}, {"speed": 10}) == 0.0
    assert need_gap(0, 0, {}, {}) == 0.0
    # Few requests: coverage 2 / (0.5 * 20) = 0.2 -> gap 0.8.
    assert need_gap(2, 18, {"speed": 2}, {"speed": 18}) == pytest.approx(0.8)


def test_need_gap_sees_the_faster_horse() -> None:
    # As many requests as pains, but they ask for capability while the pains are about speed.
    assert need_gap(10, 10, {"capability": 10}, {"speed": 10}) == 1.0
    half = need_gap(10, 10, {"capability": 5, "speed": 5}, {"speed": 10})
    assert half == pytest.approx(0.5)
    assert facet_overlap({"speed": 1}, {}) == 1.0


def test_a_theme_of_pains_and_workarounds_without_requests_is_an_unstated_need(
    analyzer: NeedsAnalyzer,
) -> None:
    units = [_unit("pain", facets=("speed",))] * 14 + [
        _unit("other", ("workaround",), ("effort",))
    ] * 6
    profile = theme_needs(units, _ctx(20), {"en": "withdrawals"}, analyzer)
    assert (profile.evidence, profile.requests, profile.need_gap) == (20, 0, 1.0)
    assert profile.unstated
    # need_gap x E / (units + 10) x signalled / (units + 10) x ln(1 + units)
    score = 1.0 * (20 / 30) * (6 / 30) * math.log1p(20)
    assert profile.unstated_score == pytest.approx(score, abs=1e-4)
    assert profile.need_facet == "speed"
    assert profile.need_statement == {
        "en": "needs: withdrawals, fast and with a predictable timeline"
    }
    assert profile.intents == {"pain": 14, "request": 0, "question": 0, "praise": 0, "other": 6}


def test_a_theme_whose_customers_ask_is_a_stated_need(analyzer: NeedsAnalyzer) -> None:
    units = [_unit("request", facets=("capability",))] * 8 + [
        _unit("pain", ("workaround",), ("capability",))
    ] * 8
    profile = theme_needs(units, _ctx(16, "zh"), {"zh": "导出"}, analyzer)
    assert profile.need_gap == 0.0
    assert not profile.unstated
    assert profile.need_statement == {"zh": "需求：导出缺的能力补上"}


def test_pains_without_workarounds_are_not_an_unstated_need(analyzer: NeedsAnalyzer) -> None:
    profile = theme_needs([_unit("pain")] * 20, _ctx(20), {"en": "x"}, analyzer)
    assert profile.need_gap == 1.0
    assert not profile.unstated


def test_unstated_needs_rank_by_score_and_priority_adds_up(analyzer: NeedsAnalyzer) -> None:
    strong = [_unit("pain")] * 10 + [_unit("other", ("workaround",))] * 10
    weak = [_unit("pain")] * 16 + [_unit("other", ("workaround",))] * 2 + [_unit("praise")] * 2
    stated = [_unit("request")] * 10 + [_unit("pain")] * 10
    profiles = {
        "T-1": theme_needs(weak, _ctx(20), {"en": "a"}, analyzer),
        "T-2": theme_needs(strong, _ctx(20), {"en": "b"}, analyzer),
        "T-3": theme_needs(stated, _ctx(20), {"en": "c"}, analyzer),
    }
    assert [tid for tid, _ in unstated_needs(profiles)] == ["T-2", "T-1"]
    rank_priorities(profiles, NeedsParams())
    for profile in profiles.values():
        assert profile.priority == pytest.approx(sum(profile.priority_parts.values()), abs=0.02)
        assert 0 <= profile.priority <= 100
    # Same volume and growth; T-2's workarounds (effort) outweigh T-1's extra negativity.
    assert profiles["T-2"].priority > profiles["T-3"].priority


def test_a_handful_of_workarounds_does_not_outrank_a_theme_built_on_them(
    analyzer: NeedsAnalyzer,
) -> None:
    """Ten units that all describe a workaround (a crumb that clustering cut off because the
    sentences share a phrasing) have perfect shares, but ten units say less than fifty of
    which most describe one: shares count as if each theme had ten more units showing
    nothing: 0.60 against 1.25 (without that, 2.40 against 1.80)."""
    crumb = [_unit("other", ("workaround",))] * 10
    theme = (
        [_unit("other", ("workaround",))] * 30
        + [_unit("pain")] * 12
        + [_unit("question")] * 6
        + [_unit("request")] * 2
    )
    profiles = {
        "crumb": theme_needs(crumb, _ctx(10), {"en": "a"}, analyzer),
        "theme": theme_needs(theme, _ctx(50), {"en": "b"}, analyzer),
    }
    assert all(p.unstated for p in profiles.values())
    assert [tid for tid, _ in unstated_needs(profiles)] == ["theme", "crumb"]
    assert profiles["crumb"].unstated_score == pytest.approx(0.5 * 0.5 * math.log1p(10), abs=1e-4)
    no_doubt = NeedsParams(unstated_prior_units=0)
    profiles = {
        "crumb": theme_needs(crumb, _ctx(10), {"en": "a"}, analyzer, params=no_doubt),
        "theme": theme_needs(theme, _ctx(50), {"en": "b"}, analyzer, params=no_doubt),
    }
    assert [tid for tid, _ in unstated_needs(profiles)] == ["crumb", "theme"]


def test_priority_weights_are_configurable(analyzer: NeedsAnalyzer) -> None:
    loud = theme_needs([_unit("pain")] * 30, _ctx(30), {"en": "a"}, analyzer)
    churny = theme_needs(
        [_unit("pain", ("churn_risk",))] * 5, _ctx(5, record="s"), {"en": "b"}, analyzer
    )
    rank_priorities({"A": loud, "B": churny}, NeedsParams(priority_weights={"churn_risk": 1}))
    assert (loud.priority, churny.priority) == (0.0, 100.0)
    rank_priorities({"A": loud, "B": churny}, NeedsParams(priority_weights={"volume": 1}))
    assert loud.priority == 100.0 and churny.priority < 100.0


def test_rating_impact_sets_the_theme_against_the_rest(analyzer: NeedsAnalyzer) -> None:
    records = {f"r{i}": {"rating": 1 if i < 4 else 5} for i in range(10)}
    records["r9"] = {"rating": "not a number"}
    totals = record_ratings(records)
    assert totals == {"rating": (4 * 1 + 5 * 5, 9)}
    profile = theme_needs([_unit("pain")] * 4, _ctx(4), {"en": "a"}, analyzer, records, totals)
    assert profile.ratings == {
        "rating": {"mean": 1.0, "n": 4, "rest_n": 5, "rest_mean": 5.0, "impact": -4.0}
    }


def test_growth_compares_the_last_four_weeks_with_the_four_before(
    analyzer: NeedsAnalyzer,
) -> None:
    end = datetime(2026, 9, 28, tzinfo=UTC)
    old = [UnitContext("r", "en", "ticket", end - timedelta(days=40))] * 4
    new = [UnitContext("r", "en", "ticket", end - timedelta(days=3))] * 6
    profile = theme_needs([_unit("pain")] * 10, old + new, {"en": "a"}, analyzer, data_until=end)
    assert profile.growth == pytest.approx(0.5)
    assert profile.breakdowns == {"source": {"ticket": 10}}
