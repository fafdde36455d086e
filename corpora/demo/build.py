"""Build the Lumi Wallet (鹿米钱包) demo corpus and its gold labels.

The corpus drives `make demo`, tests and the theme benchmarks, so it is generated rather than
hand-edited: one seed, the sentence banks in `bank/`, and this file give byte-identical output
on every run, and every customer sentence written to a corpus file gets one row in gold.csv.

    .venv/bin/python corpora/demo/build.py

Writes tickets/, calls/, reviews/, interviews/ (each removed and rewritten), gold.csv and
themes.csv. Pure standard library; see README.md for what is in the corpus.
"""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from sentences import (
    BANK_DIR,
    END,
    HERE,
    START,
    WEEKS,
    Context,
    Sentence,
    Theme,
    Writer,
    app_version,
    load_themes,
    load_toml,
    released,
    week_of,
)

SEED = 20260706
SOURCE_DIRS = ("tickets", "calls", "reviews", "interviews")

# How many items each file holds (interviews: files per language).
COUNTS = {
    "tickets_zh": 175,
    "tickets_gb": 95,
    "tickets_en": 140,
    "calls_zh": 30,
    "calls_en": 24,
    "calls_json": 30,
    "reviews_app": 190,
    "reviews_mall": 230,
    "interviews": 6,
}

# Per-source weight multipliers: people rarely open a ticket to praise, and mall reviews
# talk about delivery, coupons and refunds far more than about transfer limits.
BOOST: dict[str, dict[str, float]] = {
    "ticket": {"praise_payments": 0.15, "praise_support": 0.3, "dark_mode_a11y": 0.6},
    "call": {
        "praise_payments": 0.15,
        "praise_support": 0.4,
        "dark_mode_a11y": 0.3,
        "notifications_spam": 0.6,
        "statement_export": 0.8,
    },
    "review_app": {
        "praise_payments": 2.6,
        "praise_support": 0.6,
        "refund": 0.5,
        "mall_delivery": 0.4,
        "coupon": 0.6,
        "dark_mode_a11y": 1.6,
        "app_crash": 1.4,
    },
    "review_mall": {
        "mall_delivery": 2.4,
        "coupon": 2.0,
        "refund": 1.8,
        "praise_payments": 1.5,
        "app_crash": 0.6,
        "fees": 0.5,
        "praise_support": 0.5,
        "auto_renewal": 0.4,
        "face_verification": 0.3,
        "*": 0.12,
    },
    # An interview adds five or so sentences of a theme in one week, which would drown the
    # weekly trend of a small theme: the face-verification hang is asked about in every
    # interview of weeks 6 to 8 and in no other, and the savings product seldom comes up.
    "interview": {
        "praise_support": 0.5,
        "praise_payments": 0.0,
        "face_verification": 0.0,
        "savings_rate": 0.3,
    },
}

PRODUCTS = {
    "zh": {"wallet": "鹿米钱包", "mall": "鹿米商城", "plus": "鹿米Plus会员", "save": "攒钱罐"},
    "en": {"wallet": "wallet", "mall": "lumi-mall", "plus": "lumi-plus", "save": "lumi-save"},
}
ZH_CHANNELS = ("App内反馈", "在线客服", "邮件", "官网留言", "热线转工单")
# Timestamp style of TXT transcripts per (language, style): "[00:01:02] ", "00:01:02 " or none.
STAMPS = {("zh", 0): "[{}] ", ("zh", 1): "", ("zh", 2): "", ("en", 0): ""}
STAMPS |= {("en", 1): "{} ", ("en", 2): "[{}] "}
QUOTE_EMAIL = "support@lumiwallet.example"
QUOTE_EMAIL_ZH = "kefu@lumiwallet.example"


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    lang: str
    hant: bool
    platform: str
    name: str


@dataclass(slots=True)
class Item:
    """One input item before serialisation: when, who, its gold sentences and its fields."""

    when: datetime
    ctx: Context
    customer: Customer
    sentences: list[Sentence] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    external_id: str = ""


@dataclass(frozen=True, slots=True)
class Turn:
    """A line of a dialogue: the agent's context, or the customer's gold sentences."""

    role: str
    text: str
    sentences: tuple[Sentence, ...] = ()


class Corpus:
    """Generates every file; all randomness flows from one seeded generator, in one order."""

    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.themes = load_themes()
        self.writer = Writer(self.themes, self.rng)
        self.talk = load_toml(BANK_DIR / "dialogue.toml")
        self.customers = self._customers()
        self.gold: list[dict[str, str]] = []

    # ------------------------------------------------------------------ sampling

    def _customers(self) -> dict[tuple[str, bool], list[Customer]]:
        pools: dict[tuple[str, bool], list[Customer]] = {}
        for lang, hant, first, size, android in (
            ("zh", False, 10001, 420, 0.62),
            ("en", False, 50001, 330, 0.48),
            ("zh", True, 30001, 40, 0.4),
        ):
            names = self.talk["en" if lang == "en" else "zh"]["customer_names"]
            pools[(lang, hant)] = [
                Customer(
                    f"C-{first + i}",
                    lang,
                    hant,
                    "android" if self.rng.random() < android else "ios",
                    self.rng.choice(names),
                )
                for i in range(size)
            ]
        return pools

    def customer(self, lang: str, hant: bool = False, platform: str | None = None) -> Customer:
        """Customers are drawn with a long tail, so a few come back many times."""
        pool = self.customers[(lang, hant)]
        if platform is not None:
            pool = [c for c in pool if c.platform == platform]
        weights = [1.0 / (rank + 1) ** 0.75 for rank in range(len(pool))]
        return self.rng.choices(pool, weights)[0]

    def weight(self, source: str, theme: Theme, week: int) -> float:
        boost = BOOST.get(source, {})
        return theme.weekly[week - 1] * boost.get(theme.id, boost.get("*", 1.0))

    def pick_theme(
        self, source: str, week: int, exclude: Iterable[str] = (), hant: bool = False
    ) -> str:
        skip = set(exclude)
        themes = [t for t in self.themes.values() if t.id not in skip and (t.has_hant or not hant)]
        weights = [self.weight(source, t, week) for t in themes]
        return self.rng.choices(themes, weights)[0].id

    def moment(self, week: int) -> datetime:
        """A local time between 09:00 and 22:59, so a +08:00 stamp keeps its UTC date."""
        day = START + timedelta(days=7 * (week - 1) + self.rng.randrange(7))
        clock = time(self.rng.randrange(9, 23), self.rng.randrange(60), self.rng.randrange(60))
        return datetime.combine(day, clock)

    def schedule(self, source: str, count: int) -> list[tuple[int, str]]:
        """(week, primary theme) for `count` items, apportioned to the weekly weights rather
        than drawn one by one, so that theme trends are not buried in sampling noise."""
        weeks = range(1, WEEKS + 1)
        themes = list(self.themes.values())
        per_week = apportion(
            count,
            [sum(self.weight(source, t, w) for t in themes) for w in weeks],
            self.rng,
        )
        slots: list[tuple[int, str]] = []
        for week, items in zip(weeks, per_week, strict=True):
            split = apportion(items, [self.weight(source, t, week) for t in themes], self.rng)
            slots += [(week, t.id) for t, n in zip(themes, split, strict=True) for _ in range(n)]
        self.rng.shuffle(slots)
        return slots

    def plan(
        self, source: str, lang: str, hant: bool, week: int, theme_id: str | None = None
    ) -> tuple[Item, str]:
        """An item's date, primary theme, customer and context; the primary theme's variant is
        fixed first, because the Android face-verification hang needs an Android customer."""
        when = self.moment(week)
        if theme_id is None or (hant and not self.themes[theme_id].has_hant):
            theme_id = self.pick_theme(source, week, hant=hant)
        theme = self.themes[theme_id]
        variant = theme.pick_variant(when.date(), self.rng)
        customer = self.customer(lang, hant, variant.platform if variant else None)
        version = app_version(when.date(), self.rng)
        if variant is not None and variant.versions:
            allowed = [v for v in variant.versions if v in released(when.date())]
            version = self.rng.choice(allowed) if allowed else version
        noisy = source.startswith(("ticket", "review"))
        ctx = Context(when.date(), lang, hant, customer.platform, version, noisy)
        ctx.variants[theme.id] = variant
        return Item(when, ctx, customer), theme.id

    def say(
        self,
        item: Item,
        theme: str,
        count: int = 1,
        intents: frozenset[str] | None = None,
    ) -> list[Sentence]:
        """`count` sentences of one theme for an item; they become the item's gold rows."""
        said = [self.writer.sentence(theme, item.ctx, intents) for _ in range(count)]
        item.sentences.extend(said)
        return said

    def body(self, item: Item, theme: str, source: str, second: float = 0.25) -> list[Sentence]:
        """The customer's message: one to three sentences of the primary theme and, sometimes,
        one of a second theme (customers raise two problems in one message)."""
        said = self.say(item, theme, self.rng.choices((1, 2, 3), (45, 40, 15))[0])
        if self.rng.random() < second:
            other = self.pick_theme(source, item.ctx.week, (theme,), item.ctx.hant)
            extra = self.say(item, other)
            said.insert(self.rng.randrange(1, len(said) + 1), extra[0])
            item.sentences[-len(said) :] = said
        return said

    def line(self, lang: str, key: str, **values: str) -> str:
        text = self.rng.choice(self.talk[lang][key])
        return text.format(**values) if values else text

    def add_gold(self, file: str, item: Item) -> None:
        for s in item.sentences:
            self.gold.append(
                {
                    "file": file,
                    "external_id": item.external_id,
                    "text": s.text,
                    "theme": s.theme,
                    "lang": s.lang,
                    "intent": s.intent,
                    "stage": s.stage,
                    "week": str(week_of(item.when.date())),
                    "signal": s.signal,
                }
            )

    # ------------------------------------------------------------------ shared pieces

    def joined(self, lang: str, sentences: Iterable[Sentence]) -> str:
        return ("" if lang == "zh" else " ").join(s.text for s in sentences)

    def tags(self, item: Item, theme: str, lang: str) -> list[str]:
        tags = list(self.themes[theme].tags[lang])
        others = {s.theme for s in item.sentences} - {theme}
        tags += [self.themes[t].tags[lang][0] for t in sorted(others)]
        platform = {"zh": {"android": "安卓", "ios": "苹果"}, "en": {}}[lang]
        tags.append(platform.get(item.ctx.platform, item.ctx.platform))
        tags.append(f"v{item.ctx.version}")
        return tags

    def status(self, item: Item, lang: str) -> str:
        recent = (END - item.when.date()).days < 6
        if lang == "zh":
            options, weights = ("已解决", "处理中", "待回复", "已关闭"), (55, 20, 15, 10)
        else:
            options, weights = ("solved", "open", "pending", "closed"), (50, 20, 15, 15)
        if recent:
            weights = (10, 45, 40, 5)
        return self.rng.choices(options, weights)[0]

    def dialogue(self, item: Item, theme: str) -> list[Turn]:
        """A service call: agent greeting, identity check, the customer's problem told in
        two or three turns (sometimes with a second problem), the agent's answer, a close."""
        lang = item.ctx.lang
        agent = self.rng.choice(self.talk[lang]["agents"])
        item.data["agent"] = agent
        tail = f"{self.rng.randrange(1000, 10000)}"
        agent_no = f"{self.rng.randrange(1000, 10000)}"
        turns = [Turn("agent", self.line(lang, "greet_agent", agent=agent, agent_no=agent_no))]

        def customer(sentences: list[Sentence], prefix: str = "") -> None:
            text = self.joined(lang, sentences)
            if prefix:
                text = prefix + ("" if lang == "zh" else " ") + text
            turns.append(Turn("customer", text, tuple(sentences)))

        opening = self.line(lang, "open_customer") if self.rng.random() < 0.4 else ""
        customer(self.say(item, theme, self.rng.choice((1, 2))), opening)
        space = "" if lang == "zh" else " "
        verify = self.line(lang, "verify_agent", tail=tail)
        probe = self.line(lang, "empathy_agent") + space + self.line(lang, "probe_agent")
        if verify.endswith(("？", "?")):
            turns.append(Turn("agent", verify))
            turns.append(Turn("customer", self.line(lang, "verify_customer")))
            turns.append(Turn("agent", probe))
        else:
            turns.append(Turn("agent", verify + space + probe))
        customer(self.say(item, theme, self.rng.choice((1, 2, 2))))
        turns.append(Turn("agent", self.rng.choice(self.themes[theme].agent[lang])))
        if self.rng.random() < 0.35:
            other = self.pick_theme("call", item.ctx.week, (theme,), item.ctx.hant)
            customer(self.say(item, other))
        else:
            customer(self.say(item, theme, 1, frozenset({"question", "request"})))
        turns.append(Turn("agent", self.line(lang, "resolve_agent")))
        if self.rng.random() < 0.5:
            customer(self.say(item, theme, 1, frozenset({"request", "other", "pain"})))
            turns.append(Turn("agent", self.line(lang, "note_agent")))
        turns.append(Turn("agent", self.line(lang, "close_agent")))
        turns.append(Turn("customer", self.line(lang, "close_customer")))
        turns.append(Turn("agent", self.line(lang, "bye_agent")))
        return turns

    def seconds(self, turn: Turn, lang: str) -> float:
        """Roughly how long a turn takes to say: 4 Chinese characters or 2.5 words a second."""
        size = len(turn.text) / 4 if lang == "zh" else len(turn.text.split()) / 2.5
        return round(max(1.5, size) + self.rng.uniform(0.3, 1.5), 3)

    # ------------------------------------------------------------------ tickets

    def tickets_zh(self, name: str, count: int, encoding: str, style: str) -> None:
        """Chinese help-desk exports: a UTF-8 (BOM) file and a GB18030 file."""
        items: list[Item] = []
        for week, primary in self.schedule("ticket", count):
            hant = self.rng.random() < 0.05
            item, theme = self.plan("ticket", "zh", hant, week, primary)
            subject = None
            if not hant and self.rng.random() < 0.9:
                subject = self.writer.subject(theme, item.ctx)
                item.sentences.append(subject)
            said = self.body(item, theme, "ticket")
            item.data["channel"] = self.rng.choice(ZH_CHANNELS)
            item.data.update(
                subject=subject.text if subject else "",
                description=self.zh_description(item, said, style),
                status=self.status(item, "zh"),
                tags=self.tags(item, theme, "zh"),
                product=PRODUCTS["zh"][self.themes[theme].product],
                priority=self.rng.choices(("低", "中", "高", "紧急"), (20, 50, 22, 8))[0],
            )
            items.append(item)
        items.sort(key=lambda i: i.when)
        rows: list[list[str]] = []
        for number, item in enumerate(items, 1):
            d = item.data
            if style == "gb":
                item.external_id = f"GD{item.when:%Y%m%d}-{number:04d}"
                stamp = f"{item.when.year}年{item.when.month}月{item.when.day}日 {item.when:%H:%M}"
                rows.append(
                    [
                        item.external_id,
                        stamp,
                        d["status"],
                        d["priority"],
                        d["channel"],
                        d["product"],
                        item.customer.id,
                        d["subject"],
                        d["description"],
                        "|".join(d["tags"]),
                    ]
                )
            else:
                item.external_id = f"KF-{260000 + number}"
                rows.append(
                    [
                        item.external_id,
                        f"{item.when:%Y-%m-%d %H:%M:%S}",
                        d["subject"],
                        d["description"],
                        d["status"],
                        ",".join(d["tags"]),
                        item.customer.id,
                        d["product"],
                        d["channel"],
                        d["priority"],
                    ]
                )
            self.add_gold(f"tickets/{name}", item)
        if style == "gb":
            header = ["id", "created_at", "status", "priority", "channel", "product"]
            header += ["customer_id", "subject", "description", "tags"]
        else:
            header = ["id", "created_at", "subject", "description", "status", "tags"]
            header += ["customer_id", "product", "channel", "priority"]
        write_csv(HERE / "tickets" / name, header, rows, encoding)

    def zh_description(self, item: Item, said: list[Sentence], style: str) -> str:
        rng = self.rng
        parts: list[str] = []
        if rng.random() < 0.35:
            parts.append(self.line("zh", "greet_customer"))
        if rng.random() < 0.35 and len(said) > 1:
            parts.extend(s.text for s in said)
        else:
            parts.append(self.joined("zh", said))
        if rng.random() < 0.3:
            thanks = self.line("zh", "thanks_customer")
            if rng.random() < 0.5:
                parts[-1] += thanks
            else:
                parts.append(thanks)
        text = "\n".join(parts)
        if rng.random() < 0.06:
            text += "\n\n" + self.line("zh", "signatures")
        if item.data["channel"] == "邮件" and rng.random() < 0.6:
            earlier = item.when - timedelta(days=rng.randrange(1, 4), hours=rng.randrange(1, 9))
            earlier = max(office_hours(earlier), datetime.combine(START, time(9)))
            reply = "您好，您反馈的问题已受理，我们将在24小时内回复您，请耐心等待。"
            if style == "gb":
                text += (
                    "\n\n------ 原始邮件 ------\n发件人：鹿米客服中心\n"
                    f"发送时间：{earlier.year}年{earlier.month}月{earlier.day}日 {earlier:%H:%M}\n"
                    f"主题：您的工单已受理\n\n{reply}"
                )
            else:
                text += (
                    f"\n\n在 {earlier.year}年{earlier.month}月{earlier.day}日 {earlier:%H:%M}，"
                    f"鹿米客服 <{QUOTE_EMAIL_ZH}> 写道：\n> {reply}"
                )
        return text

    def tickets_en(self, name: str, count: int) -> None:
        """English help-desk export (JSONL) with agent replies, quoted mail and signatures."""
        items: list[Item] = []
        for week, primary in self.schedule("ticket", count):
            item, theme = self.plan("ticket", "en", False, week, primary)
            subject = self.writer.subject(theme, item.ctx)
            item.sentences.append(subject)
            said = self.body(item, theme, "ticket")
            item.data.update(
                subject=subject.text,
                description=self.en_message(item, said),
                theme=theme,
            )
            items.append(item)
        items.sort(key=lambda i: i.when)
        lines: list[str] = []
        for number, item in enumerate(items, 1):
            item.external_id = f"LUM-{104200 + number}"
            theme = item.data["theme"]
            comments, status = self.en_comments(item, theme)
            record = {
                "id": item.external_id,
                "created_at": iso(item.when),
                "subject": item.data["subject"],
                "description": item.data["description"],
                "status": status,
                "priority": self.rng.choices(("low", "normal", "high", "urgent"), (20, 55, 18, 7))[
                    0
                ],
                "channel": self.rng.choice(("email", "web", "chat", "app")),
                "product": PRODUCTS["en"][self.themes[theme].product],
                "customer_id": item.customer.id,
                "tags": self.tags(item, theme, "en"),
                "comments": comments,
            }
            lines.append(json.dumps(record, ensure_ascii=False))
            self.add_gold(f"tickets/{name}", item)
        write_text(HERE / "tickets" / name, "\n".join(lines) + "\n")

    def en_message(self, item: Item, said: list[Sentence]) -> str:
        rng = self.rng
        parts: list[str] = []
        if rng.random() < 0.6:
            parts.append(self.line("en", "greet_customer"))
        if len(said) > 2 and rng.random() < 0.5:
            parts += [self.joined("en", said[:1]), self.joined("en", said[1:])]
        else:
            parts.append(self.joined("en", said))
        if rng.random() < 0.3:
            parts.append(self.line("en", "thanks_customer"))
        text = "\n\n".join(parts)
        if rng.random() < 0.55:
            name = item.customer.name
            sign = self.line("en", "signatures", name=name, first=name.split()[0])
            text += "\n\n" + sign
        return text

    def en_comments(self, item: Item, theme: str) -> tuple[list[dict[str, str]], str]:
        """Agent reply, and sometimes the customer's answer quoting it, then maybe more."""
        rng = self.rng
        comments: list[dict[str, str]] = []
        status = self.status(item, "en")
        if rng.random() < 0.12:
            return comments, "new"
        agent = rng.choice(self.talk["en"]["agents"])
        first = item.customer.name.split()[0]
        reply_at = office_hours(item.when + timedelta(hours=rng.randrange(2, 40)))
        body = (
            f"Hi {first},\n\n{self.line('en', 'empathy_agent')} "
            f"{rng.choice(self.themes[theme].agent['en'])}\n\n"
            f"Best regards,\n{agent}\nLumi Wallet Support"
        )
        comments.append(comment("agent", f"{agent} (Lumi Support)", body, reply_at))
        if rng.random() < 0.45:
            roll = rng.random()
            if roll < 0.18 and status in ("solved", "closed"):
                said = self.say(item, "praise_support")
            elif roll < 0.4:
                said = self.say(item, "service_reach")
                status = rng.choice(("open", "pending"))
            else:
                said = self.say(item, theme, rng.choice((1, 2)))
            answer_at = min(reply_at + timedelta(hours=rng.randrange(3, 50)), last_moment())
            text = self.joined("en", said)
            if rng.random() < 0.5:
                text += "\n\n" + self.line("en", "signatures", name=item.customer.name, first=first)
            header = (
                f"On {reply_at:%a}, {reply_at:%b} {reply_at.day}, {reply_at.year} at "
                f"{reply_at:%I:%M %p}, Lumi Support <{QUOTE_EMAIL}> wrote:"
            )
            quoted = "\n".join(f"> {ln}" if ln else ">" for ln in body.split("\n"))
            text += f"\n\n{header}\n{quoted}"
            role = rng.choice(("end-user", "end-user", "customer", "requester"))
            comments.append(comment(role, item.customer.name, text, answer_at))
            if rng.random() < 0.4:
                closing = self.line("en", "resolve_agent")
                later = office_hours(answer_at + timedelta(hours=rng.randrange(1, 20)))
                comments.append(
                    comment("agent", f"{agent} (Lumi Support)", f"Hi {first},\n\n{closing}", later)
                )
        if rng.random() < 0.05 and status in ("solved", "closed"):
            note = "This ticket was closed automatically after 72 hours without a reply."
            last = datetime.fromisoformat(comments[-1]["created_at"]).replace(tzinfo=None)
            closed = min(last + timedelta(hours=72), last_moment())
            comments.append(comment("system", "Lumi Helpdesk", note, closed))
        return comments, status

    # ------------------------------------------------------------------ calls

    def calls_txt(self, lang: str, count: int) -> None:
        """One transcript per TXT file, with a front-matter block and speaker labels."""
        items: list[Item] = []
        for week, primary in self.schedule("call", count):
            item, theme = self.plan("call", lang, False, week, primary)
            item.data["turns"] = self.dialogue(item, theme)
            item.data["theme"] = theme
            items.append(item)
        items.sort(key=lambda i: i.when)
        for number, item in enumerate(items, 1):
            prefix = "CALL" if lang == "zh" else "CALLEN"
            item.external_id = f"{prefix}-{item.when:%Y%m%d}-{number:03d}"
            style = number % 3
            lines = front_matter(self.call_fields(item, lang))
            clock = 0.0
            for turn in item.data["turns"]:
                label = transcript_label(lang, style, turn.role, item.data["agent"])
                stamp = STAMPS[(lang, style)].format(clock_text(clock))
                colon = "：" if lang == "zh" else ": "
                lines.append(f"{stamp}{label}{colon}{turn.text}")
                clock += self.seconds(turn, lang)
            path = f"calls/{lang}/{item.external_id}.txt"
            write_text(HERE / path, "\n".join(lines) + "\n")
            self.add_gold(path, item)

    def call_fields(self, item: Item, lang: str) -> dict[str, str]:
        theme = self.themes[item.data["theme"]]
        return {
            "id": item.external_id,
            "created_at": f"{item.when:%Y-%m-%d %H:%M}",
            "customer_id": item.customer.id,
            "product": PRODUCTS[lang][theme.product],
            "channel": "客服热线" if lang == "zh" else "phone",
            "agent": item.data["agent"],
            "platform": item.ctx.platform,
            "app_version": item.ctx.version,
        }

    def calls_media(self) -> None:
        """Recorded calls as subtitles: voice tags, speaker prefixes and diarisation tags."""
        specs = (
            ("zh", "vtt", "voice", 2, "withdrawal_slow"),
            ("zh", "vtt", "teams", 7, "face_verification"),
            ("en", "vtt", "voice", 6, "face_verification"),
            ("en", "vtt", "names", 10, "auto_renewal"),
            ("zh", "srt", "prefix", 4, "card_binding"),
            ("zh", "srt", "diarised", 9, "savings_rate"),
            ("en", "srt", "prefix", 3, "sms_code"),
            ("en", "srt", "diarised", 11, "account_frozen"),
        )
        for number, (lang, fmt, style, week, primary) in enumerate(specs, 1):
            item, theme = self.plan("call", lang, False, week, primary)
            turns = self.dialogue(item, theme)
            item.external_id = f"REC-{item.when:%Y%m%d}-{number:02d}{lang}"
            cues = self.cues(turns, lang)
            if fmt == "vtt":
                text = self.vtt(item, cues, style, lang)
            else:
                text = self.srt(item, cues, style, lang)
            path = f"calls/recordings/{item.external_id}.{fmt}"
            write_text(HERE / path, text)
            self.add_gold(path, item)

    def cues(self, turns: list[Turn], lang: str) -> list[tuple[str, str, float, float]]:
        """(role, text, start, end): one cue per customer sentence, one per agent line."""
        out: list[tuple[str, str, float, float]] = []
        clock = self.rng.uniform(0.5, 2.0)
        for turn in turns:
            pieces = [turn.text]
            if turn.sentences:
                spoken = self.joined(lang, turn.sentences)
                opening = turn.text.removesuffix(spoken).strip()
                pieces = [opening] if opening else []
                pieces += [s.text for s in turn.sentences]
            for piece in pieces:
                length = self.seconds(Turn(turn.role, piece), lang)
                out.append((turn.role, piece, clock, clock + length))
                clock += length + self.rng.uniform(0.2, 1.2)
        return out

    def vtt(
        self, item: Item, cues: list[tuple[str, str, float, float]], style: str, lang: str
    ) -> str:
        names = {
            "zh": {"agent": "客服", "customer": "客户"},
            "en": {"agent": "Agent", "customer": "Customer"},
        }[lang]
        if style == "names":
            names = {"agent": item.data["agent"], "customer": item.customer.name}
        lines = ["WEBVTT", "", "NOTE"]
        lines += [f"call_id: {item.external_id}", f"created_at: {item.when:%Y-%m-%d %H:%M}"]
        lines += [f"customer_id: {item.customer.id}", ""]
        for number, (role, text, start, end) in enumerate(cues, 1):
            if style == "teams":
                lines.append(f"{item.external_id.lower()}/{number}-0")
            elif style != "names":
                lines.append(str(number))
            lines.append(f"{vtt_time(start)} --> {vtt_time(end)}")
            closing = "</v>" if style in ("teams", "names") else ""
            lines += [f"<v {names[role]}>{text}{closing}", ""]
        return "\n".join(lines)

    def srt(
        self, item: Item, cues: list[tuple[str, str, float, float]], style: str, lang: str
    ) -> str:
        labels = {
            ("zh", "prefix"): {"agent": "客服：", "customer": "客户："},
            ("zh", "diarised"): {"agent": "[说话人1] ", "customer": "[说话人2] "},
            ("en", "prefix"): {"agent": "Agent: ", "customer": "Customer: "},
            ("en", "diarised"): {"agent": "SPEAKER_00: ", "customer": "SPEAKER_01: "},
        }[(lang, style)]
        lines: list[str] = []
        for number, (role, text, start, end) in enumerate(cues, 1):
            lines += [str(number), f"{srt_time(start)} --> {srt_time(end)}"]
            lines += [f"{labels[role]}{text}", ""]
        return "\n".join(lines)

    def calls_json(self, name: str, count: int) -> None:
        """A contact-centre export: a JSON array of calls, each with a list of turns."""
        items: list[Item] = []
        for week, primary in self.schedule("call", count):
            lang = "zh" if self.rng.random() < 0.5 else "en"
            item, theme = self.plan("call", lang, False, week, primary)
            item.data["turns"] = self.dialogue(item, theme)
            item.data["theme"] = theme
            items.append(item)
        items.sort(key=lambda i: i.when)
        calls: list[dict[str, Any]] = []
        for number, item in enumerate(items, 1):
            lang = item.ctx.lang
            item.external_id = f"CC-{item.when:%m%d}-{number:03d}"
            fields = self.call_fields(item, lang)
            fields.pop("id")
            fields.pop("created_at")
            turns: list[dict[str, Any]] = []
            clock = 0.0
            with_roles = number % 4 == 0
            for turn in item.data["turns"]:
                length = self.seconds(turn, lang)
                if with_roles:
                    speaker = item.data["agent"] if turn.role == "agent" else item.customer.name
                    entry: dict[str, Any] = {"role": turn.role, "speaker": speaker}
                    entry.update(
                        text=turn.text, start=round(clock, 1), end=round(clock + length, 1)
                    )
                else:
                    label = transcript_label(lang, 0, turn.role, "")
                    entry = {"speaker": label, "text": turn.text}
                turns.append(entry)
                clock += length + 0.5
            calls.append(
                {
                    "id": item.external_id,
                    "created_at": iso(item.when),
                    **fields,
                    "language": lang,
                    "duration_s": round(clock),
                    "turns": turns,
                }
            )
            self.add_gold(f"calls/{name}", item)
        write_text(HERE / "calls" / name, json.dumps(calls, ensure_ascii=False, indent=1) + "\n")

    # ------------------------------------------------------------------ reviews

    def rating(self, sentences: list[Sentence]) -> int:
        """Stars follow the content: complaints get one or two, praise four or five."""
        intents = {s.intent for s in sentences}
        churn = any(s.signal == "churn_risk" for s in sentences)
        if "pain" in intents and "praise" in intents:
            return self.rng.choice((2, 3, 3, 4))
        if "pain" in intents or churn:
            return self.rng.choice((1, 1, 1, 2, 2, 3) if not churn else (1, 1, 1, 2))
        if "praise" in intents:
            return self.rng.choice((4, 5, 5, 5))
        return self.rng.choice((2, 3, 3, 4))

    def reviews_app(self, name: str, count: int) -> None:
        """App-store reviews (English, with a few Traditional Chinese ones from HK and TW)."""
        items: list[Item] = []
        for week, primary in self.schedule("review_app", count):
            hant = self.rng.random() < 0.08
            item, theme = self.plan("review_app", "zh" if hant else "en", hant, week, primary)
            title = ""
            if not hant and self.rng.random() < 0.7:
                title_sentence = self.writer.subject(theme, item.ctx)
                item.sentences.append(title_sentence)
                title = title_sentence.text
            said = self.body(item, theme, "review_app", second=0.2)
            if hant:
                country = self.rng.choice(("HK", "HK", "TW"))
            else:
                country = self.rng.choices(
                    ("SG", "MY", "AU", "GB", "US", "CA", "HK", "NZ"), (35, 20, 12, 10, 10, 5, 5, 3)
                )[0]
            item.data.update(
                title=title,
                review=self.joined(item.ctx.lang, said),
                country=country,
            )
            items.append(item)
        items.sort(key=lambda i: i.when)
        rows = []
        for number, item in enumerate(items, 1):
            item.external_id = f"AS-{880000 + number * 7}"
            rows.append(
                [
                    item.external_id,
                    f"{item.when:%Y-%m-%d}",
                    str(self.rating(item.sentences)),
                    item.data["title"],
                    item.data["review"],
                    item.ctx.version,
                    item.ctx.platform,
                    item.data["country"],
                ]
            )
            self.add_gold(f"reviews/{name}", item)
        header = ["review_id", "date", "rating", "title", "review", "version", "platform"]
        write_csv(HERE / "reviews" / name, [*header, "country"], rows, "utf-8")

    def reviews_mall(self, name: str, count: int) -> None:
        """Chinese e-commerce reviews of Lumi Mall orders (JSONL)."""
        items: list[Item] = []
        goods = load_toml(BANK_DIR / "slots.toml")["zh"]["item"]
        for week, primary in self.schedule("review_mall", count):
            item, theme = self.plan("review_mall", "zh", False, week, primary)
            item.ctx.fixed["item"] = self.rng.choice(goods)
            said = self.body(item, theme, "review_mall", second=0.3)
            item.data["content"] = self.joined("zh", said)
            items.append(item)
        items.sort(key=lambda i: i.when)
        lines = []
        for number, item in enumerate(items, 1):
            item.external_id = f"MR{item.when:%y%m%d}{number:04d}"
            platform = item.ctx.platform if self.rng.random() < 0.85 else "web"
            record = {
                "id": item.external_id,
                "created_at": f"{item.when:%Y-%m-%d %H:%M:%S}",
                "customer_id": item.customer.id,
                "product": item.ctx.fixed["item"],
                "platform": platform,
                "rating": self.rating(item.sentences),
                "content": item.data["content"],
            }
            lines.append(json.dumps(record, ensure_ascii=False))
            self.add_gold(f"reviews/{name}", item)
        write_text(HERE / "reviews" / name, "\n".join(lines) + "\n")

    # ------------------------------------------------------------------ interviews

    def interviews(self, lang: str, count: int) -> None:
        """Long Markdown interviews, one per file, covering several themes each."""
        for number in range(1, count + 1):
            self.interview(lang, number)

    def interview(self, lang: str, number: int) -> None:
        talk = self.talk[lang]
        week = (1 if lang == "zh" else 2) + 2 * (number - 1)
        hot = "face_verification" if 6 <= week <= 8 else None
        item, _ = self.plan("interview", lang, False, week, hot)
        item.when = item.when.replace(hour=self.rng.randrange(9, 18))
        themes = self.interview_themes(week)
        interviewer = self.rng.choice(talk["interviewers"])
        participant = talk["participants"][(number - 1) % len(talk["participants"])]
        if number % 2 == 0:
            asker, teller = name_label(lang, interviewer), name_label(lang, participant)
        elif lang == "zh":
            asker, teller = "访谈者：", "受访者："
        else:
            asker, teller = "Interviewer: ", "Participant: "
        item.external_id = f"INT-{lang.upper()}-{number:02d}"
        fields = {
            "id": item.external_id,
            "date": f"{item.when:%Y-%m-%d}",
            "interviewer": interviewer,
            "participant": participant,
            "customer_id": item.customer.id,
            "segment": self.rng.choice(talk["segments"]),
            "city": self.rng.choice(talk["cities"]),
            "platform": item.ctx.platform,
            "duration_min": str(self.rng.randrange(35, 65)),
        }
        heading = (
            f"# 用户访谈记录：{participant}" if lang == "zh" else f"# Interview: {participant}"
        )
        lines = [*front_matter(fields), heading, ""]
        lines += [self.line(lang, "interview_context"), ""]
        headings = talk["interview_headings"]
        deeper = frozenset({"other", "pain", "question"})
        script: list[tuple[str, str | list[Sentence]]] = [
            ("#", headings[0]),
            (asker, self.line(lang, "interview_open")),
            (teller, self.say(item, "praise_payments", 2)),
            ("#", headings[1]),
        ]
        for theme in themes:
            script.append((asker, self.rng.choice(self.themes[theme].probes[lang])))
            script.append((teller, self.say(item, theme, self.rng.choice((2, 3)))))
            script.append((asker, self.line(lang, "interview_follow")))
            script.append((teller, self.say(item, theme, self.rng.choice((1, 2)), deeper)))
        script.append(("#", headings[2]))
        script.append((asker, self.line(lang, "interview_wish")))
        wishes = [self.say(item, t, 1, frozenset({"request"}))[0] for t in themes[:2]]
        script.append((teller, wishes))
        script.append((asker, self.line(lang, "interview_close")))
        script.append((teller, self.line(lang, "interview_close_customer")))
        for who, said in script:
            text = said if isinstance(said, str) else self.joined(lang, said)
            lines += [text if who == "#" else f"{who}{text}", ""]
        path = f"interviews/{item.external_id}.md"
        write_text(HERE / path, "\n".join(lines).rstrip("\n") + "\n")
        self.add_gold(path, item)

    def interview_themes(self, week: int) -> list[str]:
        """Four or five themes; while the Android face hang is live, interviews ask about it."""
        chosen: list[str] = []
        if 6 <= week <= 8:
            chosen.append("face_verification")
        while len(chosen) < self.rng.choice((4, 5)):
            chosen.append(self.pick_theme("interview", week, chosen))
        return chosen

    # ------------------------------------------------------------------ gold

    def write_gold(self) -> None:
        header = ["file", "external_id", "text", "theme", "lang", "intent", "stage", "week"]
        rows = [[row[k] for k in [*header, "signal"]] for row in self.gold]
        write_csv(HERE / "gold.csv", [*header, "signal"], rows, "utf-8")
        themes = [
            [t.id, t.name_en, t.name_zh, t.description]
            for t in sorted(self.themes.values(), key=lambda t: t.id)
        ]
        write_csv(
            HERE / "themes.csv", ["theme", "name_en", "name_zh", "description"], themes, "utf-8"
        )


# ---------------------------------------------------------------------- formatting helpers


def apportion(total: int, weights: list[float], rng: random.Random) -> list[int]:
    """Split `total` in proportion to `weights`: whole parts first, then the leftover units
    to parts drawn with probability by their fractions (so small parts are not always lost)."""
    scale = total / sum(weights)
    exact = [w * scale for w in weights]
    counts = [int(x) for x in exact]
    fractions = [x - n for x, n in zip(exact, counts, strict=True)]
    order = sorted(
        (i for i, f in enumerate(fractions) if f > 0),
        key=lambda i: rng.random() ** (1 / fractions[i]),
        reverse=True,
    )
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def iso(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}+08:00"


def last_moment() -> datetime:
    return datetime.combine(END, time(22, 30))


def office_hours(moment: datetime) -> datetime:
    """Agents answer between 08:00 and 22:00: a later reply waits for the next morning."""
    if moment.hour >= 22:
        moment = moment.replace(hour=8) + timedelta(days=1)
    elif moment.hour < 8:
        moment = moment.replace(hour=8)
    return min(moment, last_moment())


def front_matter(fields: dict[str, str]) -> list[str]:
    return ["---", *(f"{k}: {v}" for k, v in fields.items()), "---", ""]


def comment(role: str, author: str, body: str, when: datetime) -> dict[str, str]:
    return {"author_role": role, "author": author, "body": body, "created_at": iso(when)}


def clock_text(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def vtt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    clock = clock_text(millis // 1000)
    return f"{clock}.{millis % 1000:03d}"


def srt_time(seconds: float) -> str:
    return vtt_time(seconds).replace(".", ",")


def transcript_label(lang: str, style: int, role: str, agent: str) -> str:
    if lang == "zh":
        labels = (("客服", "客户"), ("坐席", "用户"), (f"客服({agent})", "客户"))[style]
    else:
        labels = (("Agent", "Customer"), ("Rep", "Caller"), ("Agent", "Customer"))[style]
    return labels[0] if role == "agent" else labels[1]


def name_label(lang: str, name: str) -> str:
    return f"{name}：" if lang == "zh" else f"**{name}:** "


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str) -> None:
    """Excel-style CSV: CRLF rows, quoted cells where needed, UTF-8 with BOM or GB18030."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue().encode(encoding))


def build() -> Corpus:
    for folder in SOURCE_DIRS:
        shutil.rmtree(HERE / folder, ignore_errors=True)
    corpus = Corpus()
    steps: list[Callable[[], None]] = [
        lambda: corpus.tickets_zh(
            "helpdesk_zh_2026q3.csv", COUNTS["tickets_zh"], "utf-8-sig", "utf8"
        ),
        lambda: corpus.tickets_zh(
            "kefu_export_2026q3_gb18030.csv", COUNTS["tickets_gb"], "gb18030", "gb"
        ),
        lambda: corpus.tickets_en("support_en_2026q3.jsonl", COUNTS["tickets_en"]),
        lambda: corpus.calls_txt("zh", COUNTS["calls_zh"]),
        lambda: corpus.calls_txt("en", COUNTS["calls_en"]),
        corpus.calls_media,
        lambda: corpus.calls_json("contact_center_calls_2026q3.json", COUNTS["calls_json"]),
        lambda: corpus.reviews_app("app_store_en.csv", COUNTS["reviews_app"]),
        lambda: corpus.reviews_mall("mall_reviews_zh.jsonl", COUNTS["reviews_mall"]),
        lambda: corpus.interviews("zh", COUNTS["interviews"]),
        lambda: corpus.interviews("en", COUNTS["interviews"]),
    ]
    for step in steps:
        step()
    corpus.write_gold()
    return corpus


def main() -> None:
    corpus = build()
    langs: dict[str, int] = {}
    for row in corpus.gold:
        langs[row["lang"]] = langs.get(row["lang"], 0) + 1
    total = len(corpus.gold)
    share = ", ".join(f"{k} {v} ({v / total:.0%})" for k, v in sorted(langs.items()))
    print(f"wrote {total} gold units ({share}) from {START} to {END}")


if __name__ == "__main__":
    main()
