"""Segmentation into feedback units: spans, sentence splitting, courtesy, short fragments."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest
import spacy

from voc.errors import ConfigError
from voc.normalize import normalize_for_analysis
from voc.segment import Segmenter, UnitDraft, detect_lang
from voc.settings import VocSettings
from voc.types import Turn

DATA = Path(__file__).parent / "data" / "segment"


def _jsonl(name: str) -> list[dict]:
    with (DATA / name).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


TICKETS = _jsonl("tickets.jsonl")
DIALOGUES = _jsonl("dialogues.jsonl")


def _dialogue(record: dict) -> tuple[str, list[Turn]]:
    """Record text as the call adapter writes it: one `Speaker: text` line per turn."""
    text, turns = "", []
    for turn in record["turns"]:
        prefix = f"{turn['speaker']}: "
        start = len(text) + len(prefix)
        text += prefix + turn["text"] + "\n"
        turns.append(Turn(start, start + len(turn["text"]), turn["role"], turn["speaker"]))
    return text, turns


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter(VocSettings())


def _texts(units: list[UnitDraft]) -> list[str]:
    return [u.text for u in units]


@pytest.mark.parametrize("record", TICKETS, ids=[r["id"] for r in TICKETS])
def test_ticket_is_split_into_the_expected_units(segmenter: Segmenter, record: dict) -> None:
    units = segmenter.segment(record["text"], [])
    assert _texts(units) == record["units"]
    assert [u.lang for u in units] == record["langs"]


@pytest.mark.parametrize("record", DIALOGUES, ids=[r["id"] for r in DIALOGUES])
def test_only_customer_turns_become_units(segmenter: Segmenter, record: dict) -> None:
    text, turns = _dialogue(record)
    units = segmenter.segment(text, turns)
    assert [[u.speaker, u.text] for u in units] == record["units"]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("app闪退了怎么办", "zh"),
        ("The 花呗 payment failed again", "en"),
        ("我用iPhone 15 Pro Max的时候闪退", "zh"),
        ("退款 refund", "zh"),
        ("花呗 payment failed", "en"),
        ("提现一直没到账", "zh"),
        ("My card was declined", "en"),
        ("12345 😡", "en"),
        ("", "en"),
    ],
)
def test_detect_lang_follows_the_script_that_carries_the_content(text: str, lang: str) -> None:
    assert detect_lang(text) == lang


def test_empty_turns_make_the_whole_text_one_customer_turn(segmenter: Segmenter) -> None:
    text = "转账显示成功，但是对方一直没收到钱。"
    assert segmenter.segment(text, []) == [
        UnitDraft(0, len(text), text, "转账显示成功,但是对方一直没收到钱。", "zh", ""),
    ]


def test_units_carry_normalised_text_and_its_language(segmenter: Segmenter) -> None:
    text = "ＡＰＰ一直閃退，帳號也登不上去。"
    (unit,) = segmenter.segment(text, [])
    assert unit.text == text
    assert unit.norm_text == "APP一直闪退,帐号也登不上去。"
    assert unit.lang == "zh"


def test_chinese_splits_on_full_and_half_width_marks_and_their_runs(segmenter: Segmenter) -> None:
    text = "提现失败了！！为什么不到账？？钱去哪了?!客服也不回复;我等了三天……真的很着急。"
    assert _texts(segmenter.segment(text, [])) == [
        "提现失败了！！",
        "为什么不到账？？",
        "钱去哪了?!",
        "客服也不回复;",
        "我等了三天……",
        "真的很着急。",
    ]


def test_chinese_sentence_is_not_split_at_english_words_or_numbers(segmenter: Segmenter) -> None:
    text = (
        "我在v5.2.1版本用Apple Pay付了3.5元, 还是显示pending，网址是https://pay.example.com/a?b=1。"
    )
    assert _texts(segmenter.segment(text, [])) == [text]


def test_english_sentence_ending_before_chinese_splits_at_the_period(segmenter: Segmenter) -> None:
    text = "The 花呗 payment failed again. 我试了三次，还是不行。"
    assert _texts(segmenter.segment(text, [])) == [
        "The 花呗 payment failed again.",
        "我试了三次，还是不行。",
    ]


def test_english_keeps_abbreviations_decimals_urls_emails_and_placeholders(
    segmenter: Segmenter,
) -> None:
    text = (
        "Mr. Lee at your branch said the fee is 2.5% of the amount, e.g. 5.20 USD on 208 USD. "
        "I use version 5.2.1 of the app. Write to [EMAIL] or to help@bank.example.com about it. "
        "The page www.bank.example.com/fees?lang=en lists no fee at all."
    )
    assert _texts(segmenter.segment(text, [])) == [
        "Mr. Lee at your branch said the fee is 2.5% of the amount, e.g. 5.20 USD on 208 USD.",
        "I use version 5.2.1 of the app.",
        "Write to [EMAIL] or to help@bank.example.com about it.",
        "The page www.bank.example.com/fees?lang=en lists no fee at all.",
    ]


def test_english_lines_split_exactly_where_spacys_sentencizer_splits(tmp_path: Path) -> None:
    lexicon = tmp_path / "empty.toml"
    lexicon.write_text("[zh]\npatterns = []\n[en]\npatterns = []\n", encoding="utf-8")
    plain = Segmenter(VocSettings(min_unit_words_en=1), lexicon=lexicon)
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    texts = [r["text"] for r in TICKETS] + [t["text"] for r in DIALOGUES for t in r["turns"]]
    lines = [line for text in texts for line in text.splitlines() if line.isascii()]
    assert len(lines) > 20
    for line in lines:
        expected = [s.text.strip() for s in nlp(line).sents if any(c.isalnum() for c in s.text)]
        assert _texts(plain.segment(line, [])) == expected


def test_line_breaks_end_sentences_but_hard_wrapped_english_stays_whole(
    segmenter: Segmenter,
) -> None:
    text = (
        "登录不上去\r\n验证码一直收不到\n\n"
        "I was charged twice for a transfer that\nnever arrived at the other bank.\n"
        "Please refund the second charge"
    )
    assert _texts(segmenter.segment(text, [])) == [
        "登录不上去",
        "验证码一直收不到",
        "I was charged twice for a transfer that\nnever arrived at the other bank.",
        "Please refund the second charge",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "您好，很高兴为您服务",
        "你好",
        "在吗",
        "谢谢",
        "好的",
        "嗯嗯",
        "感谢您的耐心等待",
        "你好在吗？？",
        "好的，谢谢！",
        "謝謝你們",
        "ＯＫ",
        "Thanks for contacting us",
        "Hi there",
        "Thank you",
        "ok",
        "Hello, how can I help you today?",
        "Okay thanks, bye!",
        "No, that's all.",
    ],
)
def test_units_of_only_greetings_or_courtesy_are_dropped(segmenter: Segmenter, text: str) -> None:
    assert segmenter.segment(text, []) == []


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("您好，我的提现一直没到账", "我的提现一直没到账"),
        ("你好在吗，绑卡的时候验证码收不到", "绑卡的时候验证码收不到"),
        ("Hi there, the app crashes when I open it.", "the app crashes when I open it."),
        ("麻烦尽快处理退款，谢谢！", "麻烦尽快处理退款"),
        ("Please fix the login page, thanks!", "Please fix the login page"),
        ("您好！退款什么时候能到账？谢谢", "退款什么时候能到账？"),
    ],
)
def test_courtesy_at_either_end_of_a_unit_is_trimmed(
    segmenter: Segmenter, text: str, unit: str
) -> None:
    assert _texts(segmenter.segment(text, [])) == [unit]


@pytest.mark.parametrize(
    "text",
    ["你好慢，转账等了三天", "Hiring managers cannot see my application", "好评返现的钱没到账"],
)
def test_courtesy_words_inside_content_are_kept(segmenter: Segmenter, text: str) -> None:
    assert _texts(segmenter.segment(text, [])) == [text]


def test_units_of_only_punctuation_or_emoji_are_dropped(segmenter: Segmenter) -> None:
    text = "😡😡😡！！！\n……\n   \n???\n余额显示为零。"
    assert _texts(segmenter.segment(text, [])) == ["余额显示为零。"]


def test_short_fragment_merges_into_the_previous_unit(segmenter: Segmenter) -> None:
    text = "我昨天提现了两千块钱。没到账。"
    assert _texts(segmenter.segment(text, [])) == [text]


def test_short_first_fragment_merges_into_the_next_unit(segmenter: Segmenter) -> None:
    text = "App crashed.  It happens every time I open the camera."
    assert _texts(segmenter.segment(text, [])) == [text]


def test_turn_with_one_short_unit_keeps_it(segmenter: Segmenter) -> None:
    assert _texts(segmenter.segment("闪退了", [])) == ["闪退了"]
    assert _texts(segmenter.segment("Still broken!", [])) == ["Still broken!"]


def test_short_fragments_never_merge_across_turns(segmenter: Segmenter) -> None:
    text = "客户: 我的余额被冻结了。\n客服: 请稍等。\n客户: 还没好。"
    turns = [
        Turn(4, 13, "customer", "客户"),
        Turn(18, 22, "agent", "客服"),
        Turn(27, 31, "customer", "客户"),
    ]
    assert [text[t.start : t.end] for t in turns] == ["我的余额被冻结了。", "请稍等。", "还没好。"]
    assert [(u.start, u.end, u.text) for u in segmenter.segment(text, turns)] == [
        (4, 13, "我的余额被冻结了。"),
        (27, 31, "还没好。"),
    ]


def test_minimum_sizes_come_from_settings() -> None:
    strict = Segmenter(VocSettings(min_unit_chars_zh=1, min_unit_words_en=1))
    assert _texts(strict.segment("闪退了。又闪退了。It fails. Again.", [])) == [
        "闪退了。",
        "又闪退了。",
        "It fails.",
        "Again.",
    ]


def test_segment_many_gives_the_same_units_as_segment(segmenter: Segmenter) -> None:
    items = [(r["text"], []) for r in TICKETS] + [_dialogue(r) for r in DIALOGUES]
    assert segmenter.segment_many(items) == [segmenter.segment(t, turns) for t, turns in items]


def test_turn_outside_the_text_is_rejected(segmenter: Segmenter) -> None:
    with pytest.raises(ValueError, match="does not fit a text of 5 characters"):
        segmenter.segment("hello", [Turn(0, 9, "customer")])


def test_unreadable_lexicon_is_a_config_error(tmp_path: Path) -> None:
    lexicon = tmp_path / "boilerplate.toml"
    lexicon.write_text("[zh]\npatterns = ['(unclosed']\n[en]\npatterns = []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="Bad pattern"):
        Segmenter(VocSettings(), lexicon=lexicon)
    lexicon.write_text("[zh]\npatterns = []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"needs \[zh\] and \[en\] tables"):
        Segmenter(VocSettings(), lexicon=lexicon)
    lexicon.write_text("[zh]\npatterns = '谢谢'\n[en]\npatterns = []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a list"):
        Segmenter(VocSettings(), lexicon=lexicon)


def test_long_runs_of_filler_are_matched_quickly(segmenter: Segmenter) -> None:
    started = time.perf_counter()
    assert segmenter.segment("嗯" * 80, []) == []
    assert _texts(segmenter.segment("嗯" * 79 + "x，退款没到账", [])) == [
        "嗯" * 79 + "x，退款没到账"
    ]
    assert time.perf_counter() - started < 1.0


def _check_invariants(text: str, turns: list[Turn], units: list[UnitDraft]) -> None:
    customer = [t for t in turns if t.role == "customer"] or [Turn(0, len(text), "customer")]
    previous_end = 0
    for unit in units:
        assert text[unit.start : unit.end] == unit.text
        assert unit.text == unit.text.strip() and unit.text
        assert any(ch.isalnum() for ch in unit.text)
        assert unit.start >= previous_end
        previous_end = unit.end
        assert any(t.start <= unit.start and unit.end <= t.end for t in customer)
        assert unit.norm_text == normalize_for_analysis(unit.text)
        assert unit.lang == detect_lang(unit.norm_text)


def test_every_unit_span_indexes_its_text_exactly(segmenter: Segmenter) -> None:
    """Property check over every test input and random concatenations of them."""
    pieces = [r["text"] for r in TICKETS]
    pieces += [turn["text"] for r in DIALOGUES for turn in r["turns"]]
    rng = random.Random(20240305)
    separators = ["", " ", "\n", "\r\n", "\n\n", "。", ". ", "!", "，", "\u3000", "😊"]
    cases: list[tuple[str, list[Turn]]] = [(p, []) for p in pieces]
    cases += [_dialogue(r) for r in DIALOGUES]
    for _ in range(300):
        chosen = rng.sample(pieces, rng.randint(2, 5))
        text = "".join(p + rng.choice(separators) for p in chosen)
        cut = rng.randint(0, len(text))
        turns = [
            Turn(0, cut, "customer", "A"),
            Turn(cut, len(text), rng.choice(["customer", "agent"])),
        ]
        cases.append((text, rng.choice([[], turns])))
    results = segmenter.segment_many(cases)
    assert sum(map(len, results)) > 900
    for (text, turns), units in zip(cases, results, strict=True):
        _check_invariants(text, turns, units)


def test_greeting_the_agent_by_role_is_boilerplate() -> None:
    from voc.settings import VocSettings

    segmenter = Segmenter(VocSettings(_env_file=None))
    assert [u.text for u in segmenter.segment("客服你好", [])] == []
    assert [u.text for u in segmenter.segment("客服你好，我的提现一直没到账。", [])] == [
        "我的提现一直没到账。"
    ]
    assert [u.text for u in segmenter.segment("我要人工客服。", [])] == ["我要人工客服。"]
