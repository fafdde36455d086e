"""Synthetic customer feedback at any size, for the speed benchmark (bench/speed.py).

Every unit is a real customer sentence with variation, so that a million units are a million
distinct texts (the embedding cache cannot dedupe them) that still read like feedback:

- Sentences: the demo corpus's gold sentences (corpora/demo/gold.csv, Chinese and English, 19
  themes) and Banking77's training queries (English, 77 intents), split into sentences.
- Variation, per unit: a discourse opener ("另外，", "Honestly, "), details in the right
  language (order numbers, amounts, dates, channels, devices, app versions), two sentences of
  the same theme or intent joined into one, and light typos in English. A unit that comes out
  the same as an earlier one (compared by its case-folded analysis text,
  voc.normalize) is varied again.
- Records, per language: help-desk tickets (subject + description, greeting and closing lines
  and signatures around the customer's sentences, agent replies and follow-ups as JSON
  comments in English) and app/mall reviews (title + text), dated over 12 weeks from Monday
  2026-07-06 (the demo corpus's quarter).
- Files, in the formats `voc ingest` reads without a mapping (docs/formats.md):
  `tickets/zh_helpdesk_NNN.csv` (UTF-8 with BOM), `tickets/en_support_NNN.jsonl`,
  `reviews/en_app_store_NNN.csv`, `reviews/zh_mall_NNN.jsonl`; at most FILE_RECORDS records
  per file, written as generated, so memory stays flat at any size.

A size is a number of *planned* units: one per customer sentence written. The segmenter
decides the real units; on this generator they match the plan within about 1%
(tests/test_bench_speed.py).

Banking77 (I. Casanueva, T. Temčinas, D. Gerz, M. Henderson, I. Vulić, "Efficient Intent
Detection with Dual Sentence Encoders", NLP4ConvAI 2020, arXiv:2003.04807; data from
github.com/PolyAI-LDN/task-specific-datasets) is licensed CC-BY-4.0; it is read from
../shared/data/banking77/train.csv and not redistributed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from voc.normalize import normalize_for_analysis

ROOT = Path(__file__).resolve().parent.parent
DEMO_GOLD = ROOT / "corpora" / "demo" / "gold.csv"
BANKING77 = ROOT.parent / "shared" / "data" / "banking77" / "train.csv"

VERSION = 1
"""Bumped whenever the output changes, so cached corpora are regenerated."""
FILE_RECORDS = 50_000
START = datetime(2026, 7, 6, tzinfo=UTC)
SPAN_S = 12 * 7 * 24 * 3600
ZH_SHARE = 0.5
CST = timezone(timedelta(hours=8))

_ZH_END = "。！？!?…"
_EN_END = ".!?"
_SPLIT_EN = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_SPLIT_ZH = re.compile(r"(?<=[。！？])")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_WORD = re.compile(r"[A-Za-z]{4,}")

ZH_OPENERS = (
    "另外，",
    "还有，",
    "说实话，",
    "补充一下，",
    "再反馈一个问题：",
    "老问题了，",
    "最近",
    "这两天",
    "今天又遇到了：",
    "顺便说一下，",
    "重点是，",
    "我家人也是，",
)
EN_OPENERS = (
    "Also, ",
    "Honestly, ",
    "Quick question: ",
    "Again, ",
    "FYI, ",
    "As I said before, ",
    "Just so you know, ",
    "On top of that, ",
    "Seriously, ",
    "One more thing: ",
    "To be clear, ",
    "My partner says the same: ",
)
ZH_CHANNELS = ("在App里", "在官网上", "打客服热线时", "在小程序里", "在线客服那边", "在门店")
EN_CHANNELS = ("in the app", "on the website", "over the phone", "via live chat", "by email")
ZH_DEVICES = ("华为Mate 60", "iPhone 15", "小米14", "OPPO Reno", "vivo X100", "荣耀Magic6")
EN_DEVICES = ("iPhone 15", "Pixel 8", "Galaxy S24", "iPad", "OnePlus 12", "Moto G")
ZH_GREETINGS = ("您好，", "你好！", "客服你好：", "在吗？", "你好，在吗？", "哈喽，")
EN_GREETINGS = ("Hi,", "Hello,", "Hi team,", "Hello there,", "Hey,", "Hi support,")
ZH_CLOSINGS = ("谢谢！", "谢谢。", "辛苦了，谢谢。", "多谢了。", "谢谢啦！")
EN_CLOSINGS = ("Thanks!", "Thank you.", "Thanks.", "Many thanks.")
EN_SIGNOFFS = ("Best regards,", "Kind regards,", "Cheers,", "Regards,")
EN_NAMES = ("Daniel", "Priya", "Tom W.", "Aisha", "Marco", "Lena", "Sam", "Grace Lee")
ZH_STATUS = ("待回复", "处理中", "已解决", "已关闭")
ZH_PRIORITY = ("高", "中", "低")
ZH_PRODUCTS = ("鹿米钱包", "鹿米商城", "鹿米Plus会员", "攒钱罐")
ZH_CHANNEL_META = ("App内反馈", "官网留言", "在线客服", "电话")
EN_STATUS = ("open", "pending", "solved", "closed")
EN_PRODUCTS = ("wallet", "mall", "plus", "save")
MALL_PRODUCTS = ("保温杯", "台灯", "电饭煲", "蓝牙耳机", "空气炸锅", "运动鞋", "洗衣液")
COUNTRIES = ("GB", "SG", "MY", "US", "AU", "CA", "IE")
AGENT_EN = (
    "Thanks for reaching out. I have passed this to the team that handles it and will update "
    "you within two business days.",
    "Sorry for the trouble. Could you send a screenshot of the error so we can look into it?",
    "I understand how frustrating that is. I've escalated your case to our specialists.",
)


@dataclass(frozen=True, slots=True)
class Group:
    """Sentences of one theme (demo) or intent (Banking77) in one language."""

    lang: str
    name: str
    sentences: tuple[str, ...]


@dataclass(slots=True)
class Record:
    """One generated item: where it goes, its fields, and how many units were planned."""

    kind: str
    """zh_ticket, en_ticket, zh_review or en_review."""
    fields: dict[str, Any]
    units: list[str] = field(default_factory=list)

    @property
    def lang(self) -> str:
        return self.kind[:2]


def _ends(text: str, marks: str, default: str) -> str:
    text = text.strip()
    return text if text and text[-1] in marks else text + default


@lru_cache(maxsize=1)
def load_groups() -> tuple[Group, ...]:
    """Theme/intent groups of single sentences: demo gold (zh, en) and Banking77 (en)."""
    by_key: dict[tuple[str, str], list[str]] = {}
    with DEMO_GOLD.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            lang, text = row["lang"], row["text"].strip()
            if lang == "zh" and len(_HAN.findall(text)) >= 4:
                by_key.setdefault(("zh", "demo:" + row["theme"]), []).append(
                    _ends(text, _ZH_END, "。")
                )
            elif lang == "en" and len(text.split()) >= 3:
                by_key.setdefault(("en", "demo:" + row["theme"]), []).append(
                    _ends(text, _EN_END, ".")
                )
    with BANKING77.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            for sentence in _SPLIT_EN.split(row["text"].strip()):
                if len(sentence.split()) >= 3 and not _HAN.search(sentence):
                    by_key.setdefault(("en", "b77:" + row["label"]), []).append(
                        _ends(sentence[0].upper() + sentence[1:], _EN_END, ".")
                    )
    return tuple(
        Group(lang, name, tuple(dict.fromkeys(sentences)))
        for (lang, name), sentences in sorted(by_key.items())
        if len(sentences) >= 2
    )


def _digest(text: str) -> bytes:
    """What the embedding cache keys on, near enough: the analysis text, case-folded."""
    folded = normalize_for_analysis(text).lower()
    return hashlib.blake2b(folded.encode("utf-8"), digest_size=8).digest()


class Generator:
    """An endless, seeded stream of records; the same seed gives the same stream."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        groups = load_groups()
        self.groups = {lang: [g for g in groups if g.lang == lang] for lang in ("zh", "en")}
        # Weight groups by size so the mix of themes follows the sources.
        self.weights = {lang: [len(g.sentences) for g in gs] for lang, gs in self.groups.items()}
        self.seen: set[bytes] = set()
        self.count = 0

    # -- units ---------------------------------------------------------------------------

    def _order(self) -> str:
        day = START + timedelta(seconds=self.rng.randrange(SPAN_S))
        return f"LM-{day:%y%m%d}-{self.rng.randrange(10_000):04d}"

    def _detail(self, lang: str) -> str:
        rng = self.rng
        kind = rng.randrange(6)
        day = START + timedelta(seconds=rng.randrange(SPAN_S))
        amount = f"{rng.randrange(5, 5000)}.{rng.randrange(100):02d}"
        if lang == "zh":
            return (
                f"（订单号 {self._order()}）",
                f"，金额{amount}元",
                f"，{day.month}月{day.day}日的事",
                f"，{rng.choice(ZH_CHANNELS)}",
                f"，我用的是{rng.choice(ZH_DEVICES)}",
                f"，版本5.{rng.randrange(1, 9)}.{rng.randrange(10)}",
            )[kind]
        return (
            f" (order {self._order()})",
            f", amount ${amount}",
            f" on {day:%b} {day.day}",
            f" {rng.choice(EN_CHANNELS)}",
            f" on my {rng.choice(EN_DEVICES)}",
            f" (app version 5.{rng.randrange(1, 9)}.{rng.randrange(10)})",
        )[kind]

    def _typo(self, text: str) -> str:
        words = list(_WORD.finditer(text))
        if not words:
            return text
        m = self.rng.choice(words)
        w = m.group()
        i = self.rng.randrange(1, len(w) - 2)
        op = self.rng.randrange(3)
        if op == 0:
            w = w[:i] + w[i + 1] + w[i] + w[i + 2 :]
        elif op == 1:
            w = w[:i] + w[i + 1 :]
        else:
            w = w[:i] + w[i] + w[i:]
        return text[: m.start()] + w + text[m.end() :]

    def _vary(self, group: Group, force: int) -> str:
        """One unit from `group`; `force` > 0 adds that many details whatever the dice say."""
        rng, lang = self.rng, group.lang
        marks = _ZH_END if lang == "zh" else _EN_END
        text = rng.choice(group.sentences)
        if rng.random() < 0.2:
            other = rng.choice(group.sentences)
            if other != text:
                head = text.rstrip(marks)
                if lang == "zh":
                    text = f"{head}，{other}"
                else:
                    tail = other[0].lower() + other[1:] if other[1:2].islower() else other
                    text = f"{head}, and {tail}"
        end = len(text.rstrip(marks))
        body, stop = text[:end], text[end:] or ("。" if lang == "zh" else ".")
        for _ in range(force + (rng.random() < 0.35)):
            body += self._detail(lang)
        if rng.random() < 0.25:
            opener = rng.choice(ZH_OPENERS if lang == "zh" else EN_OPENERS)
            if lang == "en" and body[1:2].islower():
                body = body[0].lower() + body[1:]
            body = opener + body
        if lang == "en" and rng.random() < 0.15:
            body = self._typo(body)
        return body + stop

    def unit(self, group: Group) -> str:
        """A unit whose case-folded analysis text was not generated before."""
        for attempt in range(8):
            text = self._vary(group, force=min(attempt, 3))
            key = _digest(text)
            if key not in self.seen:
                self.seen.add(key)
                return text
        text += self._detail(group.lang)  # practically unreachable; an order number is unique
        self.seen.add(_digest(text))
        return text

    # -- records -------------------------------------------------------------------------

    def _units(self, group: Group, n: int) -> list[str]:
        return [self.unit(group) for _ in range(n)]

    def record(self, max_units: int | None = None) -> Record:
        """The next record; with `max_units`, it plans at most that many units (>= 1)."""
        rng = self.rng
        self.count += 1
        i = self.count
        lang = "zh" if rng.random() < ZH_SHARE else "en"
        group = rng.choices(self.groups[lang], weights=self.weights[lang])[0]
        created = START + timedelta(seconds=rng.randrange(SPAN_S))
        ticket = rng.random() < (0.7 if lang == "zh" else 0.6)
        n_body = rng.choices((1, 2, 3, 4), weights=(35, 35, 20, 10))[0]
        n_title = 1 if ticket or rng.random() < 0.6 else 0
        n_follow = 1 if ticket and lang == "en" and rng.random() < 0.3 else 0
        if max_units is not None:
            n_title = min(n_title, max(max_units - 1, 0))
            n_body = max(1, min(n_body, max_units - n_title))
            n_follow = min(n_follow, max(max_units - n_title - n_body, 0))
        title = self._units(group, n_title)
        body = self._units(group, n_body)
        follow = self._units(group, n_follow)
        units = title + body + follow
        sep = "" if lang == "zh" else " "
        title_text = title[0] if title else ""
        lines = [sep.join(body)]
        if rng.random() < 0.3:
            lines.insert(0, rng.choice(ZH_GREETINGS if lang == "zh" else EN_GREETINGS))
        if rng.random() < 0.3:
            lines.append(rng.choice(ZH_CLOSINGS if lang == "zh" else EN_CLOSINGS))
        if lang == "en" and rng.random() < 0.2:
            lines.append(f"{rng.choice(EN_SIGNOFFS)}\n{rng.choice(EN_NAMES)}")
        elif lang == "zh" and rng.random() < 0.1:
            lines.append("发自我的iPhone")
        description = "\n".join(lines) if lang == "zh" else "\n\n".join(lines)
        if ticket and lang == "zh":
            return Record(
                "zh_ticket",
                {
                    "id": f"KF-{i:08d}",
                    "created_at": f"{created:%Y-%m-%d %H:%M:%S}",
                    "subject": title_text,
                    "description": description,
                    "status": rng.choice(ZH_STATUS),
                    "tags": group.name.split(":")[1],
                    "customer_id": f"C-{rng.randrange(100_000):05d}",
                    "product": rng.choice(ZH_PRODUCTS),
                    "channel": rng.choice(ZH_CHANNEL_META),
                    "priority": rng.choice(ZH_PRIORITY),
                },
                units,
            )
        if ticket:
            comments: list[dict[str, str]] = []
            if rng.random() < 0.5 or follow:
                replied = created + timedelta(hours=rng.randrange(1, 48))
                comments.append(
                    {
                        "author_role": "agent",
                        "author": "Lumi Support",
                        "body": rng.choice(AGENT_EN),
                        "created_at": replied.astimezone(CST).isoformat(),
                    }
                )
            if follow:
                comments.append(
                    {
                        "author_role": "end-user",
                        "author": rng.choice(EN_NAMES),
                        "body": follow[0] + "\n\n" + rng.choice(EN_CLOSINGS),
                        "created_at": (created + timedelta(days=2)).astimezone(CST).isoformat(),
                    }
                )
            return Record(
                "en_ticket",
                {
                    "id": f"SUP-{i:08d}",
                    "created_at": created.astimezone(CST).isoformat(),
                    "subject": title_text,
                    "description": description,
                    "status": rng.choice(EN_STATUS),
                    "priority": rng.choice(("low", "normal", "high")),
                    "channel": rng.choice(("app", "web", "email")),
                    "product": rng.choice(EN_PRODUCTS),
                    "customer_id": f"C-{rng.randrange(100_000):05d}",
                    "tags": [group.name.split(":")[1], rng.choice(("android", "ios"))],
                    "comments": comments,
                },
                units,
            )
        text = sep.join(body)
        if lang == "zh":
            return Record(
                "zh_review",
                {
                    "id": f"MR{i:010d}",
                    "created_at": f"{created:%Y-%m-%d %H:%M:%S}",
                    "customer_id": f"C-{rng.randrange(100_000):05d}",
                    "product": rng.choice(MALL_PRODUCTS),
                    "platform": rng.choice(("android", "ios")),
                    "rating": rng.randrange(1, 6),
                    "title": title_text,
                    "content": text,
                },
                units,
            )
        return Record(
            "en_review",
            {
                "review_id": f"AS-{i:08d}",
                "date": f"{created:%Y-%m-%d}",
                "rating": rng.randrange(1, 6),
                "title": title_text,
                "review": text,
                "version": f"5.{rng.randrange(1, 9)}.{rng.randrange(10)}",
                "platform": rng.choice(("android", "ios")),
                "country": rng.choice(COUNTRIES),
            },
            units,
        )

    def records(self, n: int) -> Iterator[Record]:
        """Exactly `n` records."""
        for _ in range(n):
            yield self.record()

    def until_units(self, units: int) -> Iterator[Record]:
        """Records whose planned units add up to exactly `units`."""
        planned = 0
        while planned < units:
            r = self.record(max_units=units - planned)
            planned += len(r.units)
            yield r


FILES = {
    "zh_ticket": ("tickets", "zh_helpdesk", "csv"),
    "en_ticket": ("tickets", "en_support", "jsonl"),
    "zh_review": ("reviews", "zh_mall", "jsonl"),
    "en_review": ("reviews", "en_app_store", "csv"),
}
SOURCES = {"tickets": "ticket", "reviews": "review"}
"""Folder -> `voc ingest --source`."""


class _Writers:
    """One open file per kind at a time, rolled over every FILE_RECORDS records."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.open: dict[str, tuple[Any, Any, int]] = {}
        self.files: list[str] = []
        self.serial: dict[str, int] = {}

    def write(self, record: Record) -> None:
        kind = record.kind
        handle, writer, count = self.open.get(kind, (None, None, FILE_RECORDS))
        if count >= FILE_RECORDS:
            if handle is not None:
                handle.close()
            folder, stem, ext = FILES[kind]
            self.serial[kind] = self.serial.get(kind, 0) + 1
            path = self.out / folder / f"{stem}_{self.serial[kind]:03d}.{ext}"
            path.parent.mkdir(parents=True, exist_ok=True)
            self.files.append(path.relative_to(self.out).as_posix())
            encoding = "utf-8-sig" if kind == "zh_ticket" else "utf-8"
            handle = path.open("w", encoding=encoding, newline="")
            writer = None
            if ext == "csv":
                writer = csv.DictWriter(handle, fieldnames=list(record.fields))
                writer.writeheader()
            count = 0
        if writer is not None:
            writer.writerow(record.fields)
        else:
            handle.write(json.dumps(record.fields, ensure_ascii=False) + "\n")
        self.open[kind] = (handle, writer, count + 1)

    def close(self) -> None:
        for handle, _, _ in self.open.values():
            handle.close()


def sources_digest() -> str:
    """Changes when the demo corpus or Banking77 does, so a cached corpus is regenerated."""
    h = hashlib.blake2b(digest_size=8)
    for path in (DEMO_GOLD, BANKING77):
        h.update(path.read_bytes())
    return h.hexdigest()


def write_corpus(out: Path, units: int, seed: int = 0) -> dict[str, Any]:
    """Write records planning exactly `units` units under `out` (replaced), streamed; returns
    the manifest, also saved as out/manifest.json. Reuses `out` when its manifest matches (same
    generator version, seed, size and source files)."""
    manifest_path = out / "manifest.json"
    wanted = {"version": VERSION, "seed": seed, "units": units, "sources": sources_digest()}
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if {k: manifest.get(k) for k in wanted} == wanted:
            return manifest
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    gen = Generator(seed)
    writers = _Writers(tmp)
    kinds: dict[str, int] = {}
    planned: dict[str, int] = {"zh": 0, "en": 0}
    records = 0
    try:
        for record in gen.until_units(units):
            writers.write(record)
            records += 1
            kinds[record.kind] = kinds.get(record.kind, 0) + 1
            planned[record.lang] += len(record.units)
    finally:
        writers.close()
    manifest = {
        **wanted,
        "records": records,
        "by_kind": kinds,
        "units_by_lang": planned,
        "files": writers.files,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return manifest
