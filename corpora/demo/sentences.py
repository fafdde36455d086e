"""Sentence banks, calendar and the sentence writer of the Lumi Wallet demo corpus.

Every customer sentence in the corpus comes from the hand-written banks in `bank/themes/`
(one TOML file per theme, Chinese and English), so its gold label is known exactly. Slots
(`{money}`, `{days}`, `{version}` ...) and light noise (typos, colloquial forms, punctuation)
let one base sentence read like different customers; the checks here make sure each rendered
sentence still ends a sentence and is long enough to be one feedback unit on its own.
"""

from __future__ import annotations

import random
import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BANK_DIR = HERE / "bank"

START = date(2026, 7, 6)
WEEKS = 12
END = START + timedelta(days=7 * WEEKS - 1)

RELEASES: tuple[tuple[date, str], ...] = (
    (date(2026, 6, 15), "5.2.0"),
    (date(2026, 7, 20), "5.2.1"),
    (date(2026, 8, 10), "5.3.0"),
    (date(2026, 8, 20), "5.3.1"),
    (date(2026, 8, 31), "5.3.2"),
    (date(2026, 9, 21), "5.4.0"),
)
"""App releases; 5.3.0 brought the Android face-verification hang, 5.3.2 fixed it."""

RATE_CUT = date(2026, 9, 1)
RATES_BEFORE = ("2.3%", "2.31%", "2.28%", "2.3%")
RATES_AFTER = ("1.8%", "1.79%", "1.82%", "1.8%")

INTENTS = frozenset({"pain", "request", "question", "praise", "other"})
STAGES = frozenset({"discover", "evaluate", "purchase", "onboard", "use", "support", "renew_churn"})
SIGNALS = frozenset({"", "workaround", "effort", "confusion", "churn_risk", "comparison"})

_SLOT = re.compile(r"\{(\w+)\}")
_NOT_WORD = re.compile(r"[\W_]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_EN_WORD = re.compile(r"[A-Za-z0-9$][\w,.%$'-]*")
_END = re.compile(r"[。！？.!?]+$")
# Marks that would end a sentence early, or that JSON, CSV, subtitles or speaker labels would
# escape or misread, never appear inside a customer sentence.
_FORBIDDEN = re.compile(r"[\"\\<>&\n\t:：;；…]")
_ZH_INNER_END = re.compile(r"[。！？!?]")
_EN_INNER_END = re.compile(r"[.!?](?=\s)")
# Courtesy at either end of a sentence is trimmed by the segmenter, so the unit would no
# longer equal the gold text; bank sentences must not start or end with it.
_COURTESY_START = re.compile(
    r"^(好的|好吧|嗯+|你好|您好|谢谢|多谢|可以|行|收到|明白|没事|亲"
    r"|ok|okay|sure|yes|yeah|great|perfect|cool|fine|thanks|thank you|hi|hello|hey)"
    r"\s*[，,。！？.!?]",
    re.IGNORECASE,
)
_COURTESY_END = re.compile(r"([，,]\s*(谢谢|多谢|thanks|thank you)[。！.!]*)$", re.IGNORECASE)

_ZH_TYPOS: tuple[tuple[str, str], ...] = (
    ("登录", "登陆"),
    ("账户", "帐户"),
    ("已经", "己经"),
    ("怎么", "咋"),
    ("什么", "啥"),
    ("为什么", "为啥"),
    ("的时候", "得时候"),
    ("现在", "现再"),
    ("一直", "一只"),
    ("根本", "跟本"),
    ("真的", "真得"),
)
_EN_TYPOS: tuple[tuple[str, str], ...] = (
    ("receive", "recieve"),
    ("definitely", "definately"),
    ("until", "untill"),
    ("because", "becuase"),
    ("really", "realy"),
    ("account", "acount"),
    ("withdrawal", "withdrawl"),
    ("immediately", "immediatly"),
    ("I'm", "Im"),
    ("can't", "cant"),
    ("don't", "dont"),
    ("doesn't", "doesnt"),
    ("it's", "its"),
    ("didn't", "didnt"),
    ("haven't", "havent"),
    ("you", "u"),
)
_EN_SHOUT = ("still", "never", "nothing", "every", "again")


def _fold(text: str) -> str:
    """Text without case, spaces and punctuation: two sentences that differ only there read
    as one repeated sentence (the ingester flags such records as near-duplicates)."""
    return _NOT_WORD.sub("", text.casefold())


def week_of(day: date) -> int:
    """1-based week of the corpus period (weeks start on Monday 2026-07-06)."""
    week = (day - START).days // 7 + 1
    if not 1 <= week <= WEEKS:
        raise ValueError(f"{day} is outside the corpus period {START} to {END}")
    return week


def released(day: date) -> list[str]:
    return [version for when, version in RELEASES if when <= day]


def app_version(day: date, rng: random.Random) -> str:
    """The version a customer runs on `day`: mostly the latest, sometimes one behind."""
    versions = released(day)
    if len(versions) > 1 and rng.random() < 0.25:
        return versions[-2]
    return versions[-1]


def load_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        return tomllib.load(fh)


@dataclass(frozen=True, slots=True)
class Entry:
    """A hand-written base sentence with its labels."""

    intent: str
    stage: str
    text: str
    signal: str = ""


@dataclass(frozen=True, slots=True)
class Variant:
    """A sub-bank that replaces the base bank for a share of items in given weeks: the
    Android face-verification hang, the 818 sale, the savings rate cut."""

    name: str
    share: tuple[float, ...]
    start: date = START
    """No item before this day uses the variant (the sale is on 08-18, the rate cut 09-01)."""
    platform: str | None = None
    versions: tuple[str, ...] = ()


@dataclass(slots=True)
class Theme:
    id: str
    name_en: str
    name_zh: str
    description: str
    product: str
    weekly: tuple[float, ...]
    tags: dict[str, list[str]]
    probes: dict[str, list[str]]
    agent: dict[str, list[str]]
    subjects: dict[str, list[str]]
    pools: dict[str, list[Entry]]
    variants: tuple[Variant, ...]
    main_stage: str

    def pick_variant(self, day: date, rng: random.Random) -> Variant | None:
        roll = rng.random()
        for variant in self.variants:
            roll -= variant.share[week_of(day) - 1]
            if roll < 0:
                return variant if day >= variant.start else None
        return None

    @property
    def has_hant(self) -> bool:
        return "zh_hant" in self.pools


def _entry(raw: list[str], where: str) -> Entry:
    if len(raw) not in (3, 4):
        raise ValueError(f"{where}: an entry is [intent, stage, text] or [..., signal]: {raw}")
    entry = Entry(*raw)
    if entry.intent not in INTENTS or entry.stage not in STAGES or entry.signal not in SIGNALS:
        raise ValueError(f"{where}: unknown intent, stage or signal in {raw}")
    return entry


def load_theme(path: Path) -> Theme:
    raw = load_toml(path)
    pools = {
        key: [_entry(item, f"{path.name} {key}") for item in value]
        for key, value in raw.items()
        if key.split("_")[0] in ("zh", "en")
    }
    variants = tuple(
        Variant(
            name,
            tuple(spec["share"]),
            spec.get("start", START),
            spec.get("platform"),
            tuple(spec.get("versions", ())),
        )
        for name, spec in raw.get("variants", {}).items()
    )
    for variant in variants:
        if len(variant.share) != WEEKS:
            raise ValueError(f"{path.name}: variant {variant.name} needs {WEEKS} weekly shares")
    if len(raw["weekly"]) != WEEKS:
        raise ValueError(f"{path.name}: weekly needs {WEEKS} weights")
    stages = Counter(e.stage for pool in pools.values() for e in pool)
    return Theme(
        id=raw["id"],
        name_en=raw["name_en"],
        name_zh=raw["name_zh"],
        description=raw["description"],
        product=raw["product"],
        weekly=tuple(raw["weekly"]),
        tags={"zh": raw["tags_zh"], "en": raw["tags_en"]},
        probes={"zh": raw["probe_zh"], "en": raw["probe_en"]},
        agent={"zh": raw["agent_zh"], "en": raw["agent_en"]},
        subjects={k.removeprefix("subjects_"): v for k, v in raw.items() if k.startswith("subj")},
        pools=pools,
        variants=variants,
        main_stage=stages.most_common(1)[0][0],
    )


def load_themes() -> dict[str, Theme]:
    themes = [load_theme(p) for p in sorted((BANK_DIR / "themes").glob("*.toml"))]
    return {t.id: t for t in themes}


@dataclass(frozen=True, slots=True)
class Sentence:
    """A customer sentence as it appears in a corpus file, with its gold labels."""

    text: str
    theme: str
    lang: str
    intent: str
    stage: str
    signal: str


@dataclass(slots=True)
class Context:
    """What one item (ticket, call, review, interview) fixes for all of its sentences."""

    day: date
    lang: str
    hant: bool
    platform: str
    version: str
    noisy: bool = True
    """Typed by the customer (tickets, reviews), not transcribed (calls, interviews)."""
    variants: dict[str, Variant | None] = field(default_factory=dict)
    fixed: dict[str, str] = field(default_factory=dict)

    @property
    def week(self) -> int:
        return week_of(self.day)


def check_sentence(text: str, lang: str, *, subject: bool = False) -> None:
    """Raise ValueError unless `text` will be exactly one feedback unit after segmentation."""
    problem = ""
    if _FORBIDDEN.search(text):
        problem = "contains a character that is escaped or read as a label"
    elif not subject and not _END.search(text):
        problem = "does not end with 。！？.!?"
    elif _COURTESY_START.search(text) or _COURTESY_END.search(text):
        problem = "starts or ends with courtesy that the segmenter trims"
    elif lang == "zh" and len(_HAN.findall(text)) < 6:
        problem = "has fewer than 6 Chinese characters"
    elif lang == "en" and len(_EN_WORD.findall(text)) < 4:
        problem = "has fewer than 4 English words"
    else:
        body = _END.sub("", text)
        inner = _ZH_INNER_END if lang == "zh" else _EN_INNER_END
        if inner.search(body) or "..." in body:
            problem = "has a sentence end inside it"
        elif lang == "zh" and re.search(r"(?<!\d)\.|\.(?!\d)", body):
            problem = "has a full stop outside a number"
    if problem:
        raise ValueError(f"sentence {text!r} {problem}")


class Writer:
    """Renders bank sentences for items: picks the least-used entries, fills slots from the
    item's context, adds light noise, and avoids repeating a rendered sentence."""

    def __init__(self, themes: dict[str, Theme], rng: random.Random) -> None:
        self.themes = themes
        self.rng = rng
        self.slots = load_toml(BANK_DIR / "slots.toml")
        self.uses: Counter[tuple[str, str, int]] = Counter()
        self.seen: set[str] = set()

    def variant(self, ctx: Context, theme: Theme) -> Variant | None:
        if theme.id not in ctx.variants:
            variant = theme.pick_variant(ctx.day, self.rng)
            if variant is not None and variant.platform not in (None, ctx.platform):
                variant = None
            ctx.variants[theme.id] = variant
        return ctx.variants[theme.id]

    def _pool(self, theme: Theme, ctx: Context) -> tuple[str, list[Entry]]:
        base = "zh_hant" if ctx.hant else ctx.lang
        variant = self.variant(ctx, theme)
        keys = [f"{base}_{variant.name}"] if variant is not None else []
        keys.append(base)
        for key in keys:
            if key in theme.pools:
                return key, theme.pools[key]
        raise KeyError(f"theme {theme.id} has no {base} sentences")

    def sentence(
        self, theme_id: str, ctx: Context, intents: frozenset[str] | None = None
    ) -> Sentence:
        theme = self.themes[theme_id]
        key, pool = self._pool(theme, ctx)
        indices = [i for i, e in enumerate(pool) if intents is None or e.intent in intents]
        if not indices:
            indices = list(range(len(pool)))
        text = ""
        entry = pool[indices[0]]
        for _ in range(8):
            weights = [1.0 / (1 + self.uses[(theme.id, key, i)]) ** 2 for i in indices]
            index = self.rng.choices(indices, weights)[0]
            entry = pool[index]
            text = self._render(entry, ctx, theme)
            if _fold(text) not in self.seen:
                break
        self.uses[(theme.id, key, index)] += 1
        self.seen.add(_fold(text))
        check_sentence(text, "zh" if ctx.lang == "zh" else "en")
        return Sentence(text, theme.id, ctx.lang, entry.intent, entry.stage, entry.signal)

    def subject(self, theme_id: str, ctx: Context) -> Sentence:
        """A ticket subject or review title: short, often without final punctuation."""
        theme = self.themes[theme_id]
        variant = self.variant(ctx, theme)
        pool = theme.subjects[ctx.lang]
        if variant is not None:
            pool = theme.subjects.get(f"{ctx.lang}_{variant.name}", pool)
        text = self.rng.choice(pool)
        roll = self.rng.random()
        if ctx.lang == "zh" and roll < 0.2 and not _END.search(text):
            text += self.rng.choice(("！", "！！", "？"))
        elif ctx.lang == "en" and roll < 0.15:
            text = " ".join(word[:1].upper() + word[1:] for word in text.split(" "))
        check_sentence(text, ctx.lang, subject=True)
        if theme.id.startswith("praise"):
            intent = "praise"
        elif text.endswith(("？", "?")):
            intent = "question"
        elif text.startswith(("建议", "希望", "申请", "咨询", "Please", "Need", "Request")):
            intent = "request"
        else:
            intent = "pain"
        return Sentence(text, theme.id, ctx.lang, intent, theme.main_stage, "")

    def _render(self, entry: Entry, ctx: Context, theme: Theme) -> str:
        slots = self.slots["en" if ctx.lang == "en" else "zh"]

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in ctx.fixed:
                return ctx.fixed[name]
            if name == "version":
                return self._version(ctx, theme)
            if name == "rate":
                return self.rng.choice(RATES_BEFORE if ctx.day < RATE_CUT else RATES_AFTER)
            return str(self.rng.choice(slots[name]))

        text = _SLOT.sub(fill, entry.text)
        if ctx.hant or not ctx.noisy:
            return text
        if self.rng.random() < 0.3:
            text = self._noise(text, ctx.lang, entry.intent)
        return text

    def _version(self, ctx: Context, theme: Theme) -> str:
        variant = self.variant(ctx, theme)
        if variant is not None and variant.versions:
            allowed = [v for v in variant.versions if v in released(ctx.day)]
            if allowed:
                return self.rng.choice(allowed)
        return ctx.version

    def _noise(self, text: str, lang: str, intent: str) -> str:
        """One light change a real customer might make: a typo, a colloquial form, or
        emphatic or sloppy punctuation."""
        rng = self.rng
        if lang == "zh":
            options = [pair for pair in _ZH_TYPOS if pair[0] in text]
            roll = rng.random()
            if options and roll < 0.4:
                old, new = rng.choice(options)
                return text.replace(old, new, 1)
            if roll < 0.55 and "，" in text:
                return text.replace("，", ",")
            if roll < 0.7 and re.search(r"[\u4e00-\u9fff][A-Za-z]|[A-Za-z][\u4e00-\u9fff]", text):
                text = re.sub(r"([\u4e00-\u9fff])([A-Za-z])", r"\1 \2", text)
                return re.sub(r"([A-Za-z])([\u4e00-\u9fff])", r"\1 \2", text)
            if text.endswith("？"):
                return text[:-1] + rng.choice(("？？", "??", "？！"))
            if intent == "pain" and text.endswith(("。", "！")):
                endings = ["！", "！！", "!!!"] + ([] if text[-2] in "啊呢吧吗呀了" else ["啊！"])
                return text[:-1] + rng.choice(endings)
            return text
        # A typo on the last word could end the sentence in "u." or "Im.", which a segmenter
        # may read as an abbreviation and join to the next sentence.
        options = [
            pair
            for pair in _EN_TYPOS
            if re.search(rf"\b{re.escape(pair[0])}\b", text)
            and not re.search(rf"\b{re.escape(pair[0])}[.!?]+$", text)
        ]
        roll = rng.random()
        if options and roll < 0.4:
            old, new = rng.choice(options)
            return re.sub(rf"\b{re.escape(old)}\b", new, text, count=1)
        if roll < 0.55 and text[:2].istitle() and not text.startswith("I "):
            return text[0].lower() + text[1:]
        shout = [w for w in _EN_SHOUT if re.search(rf"\b{w}\b", text)]
        if roll < 0.7 and shout:
            word = rng.choice(shout)
            return re.sub(rf"\b{word}\b", word.upper(), text, count=1)
        if text.endswith("?"):
            return text[:-1] + rng.choice(("??", "???", "?!"))
        if intent == "pain" and text.endswith((".", "!")):
            return text[:-1] + rng.choice(("!", "!!", "!!!"))
        return text
