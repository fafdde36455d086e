"""Check the demo corpus against its gold labels and the input-format contract.

The corpus is generated, but adapters, tests and benchmarks trust it, so this re-reads every
file independently of the generator, the way docs/formats.md describes it: CSV with the csv
module (GB18030 decoded as such), JSON and JSONL with json, WebVTT and SRT cue by cue, TXT and
Markdown by front matter and speaker labels. It then checks that every gold row's text occurs
verbatim in the customer text of its record, that no customer sentence is left without a gold
row, that weeks match dates and that the trends README.md describes are there, and prints
count tables.

    .venv/bin/python corpora/demo/check.py

Exits with status 1 and a list of problems when anything is off.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sentences import HERE, WEEKS, check_sentence, load_themes, load_toml, week_of

MAX_BYTES = 3 * 1024 * 1024
AGENT_LABELS = {"客服", "坐席", "agent", "rep"}
CUSTOMER_LABELS = {"客户", "用户", "customer", "caller"}
_LABEL = re.compile(r"^(?:\[?\d{2}:\d{2}:\d{2}\]? )?(\*\*)?([^:：*\n]{1,32}?)[:：](\*\*)? ?(.*)$")
_TIMING = re.compile(r"^(\d{2}:\d{2}:\d{2}[.,]\d{3}) --> (\d{2}:\d{2}:\d{2}[.,]\d{3})$")
_VOICE = re.compile(r"^<v ([^>]+)>(.*?)(?:</v>)?$")
_DIARISED = re.compile(r"^\[(说话人\d)\] (.*)$|^(SPEAKER_\d+): (.*)$")
_QUOTE_START = re.compile(r"^(On .+ wrote:|在.+写道[：:]|-{2,}\s*原始邮件\s*-{2,})$")
_SIGNATURE = re.compile(
    r"^(--\s?|Best regards,|Kind regards,|Regards,|Sent from my .+|发自我的.+|此致)$"
)
_REC_DATE = re.compile(r"REC-(\d{8})-")


@dataclass(slots=True)
class Record:
    """One input item as a reader of the format sees it: id, date, customer text."""

    file: str
    external_id: str
    created: date
    customer: list[str] = field(default_factory=list)
    titles: set[str] = field(default_factory=set)


class Problems(list[str]):
    def add(self, where: str, message: str) -> None:
        self.append(f"{where}: {message}")


def parse_date(text: str) -> date:
    text = text.strip()
    match = re.match(r"(\d{4})年(\d{1,2})月(\d{1,2})日", text)
    if match:
        return date(*map(int, match.groups()))
    return datetime.fromisoformat(text.replace(" ", "T")[:19]).date()


def customer_part(body: str) -> str:
    """Customer-written text without quoted earlier mail and signatures (docs/formats.md)."""
    kept: list[str] = []
    for line in body.split("\n"):
        if _QUOTE_START.match(line.strip()) or _SIGNATURE.match(line.rstrip()):
            break
        if not line.startswith(">"):
            kept.append(line)
    return "\n".join(kept)


def front_matter(lines: list[str], where: str, problems: Problems) -> tuple[dict[str, str], int]:
    if not lines or lines[0] != "---" or "---" not in lines[1:]:
        problems.add(where, "no front-matter block")
        return {}, 0
    close = lines.index("---", 1)
    fields = dict(line.split(": ", 1) for line in lines[1:close])
    return fields, close + 1


def read_ticket_csv(path: Path, rel: str, problems: Problems) -> Iterator[Record]:
    encoding = "gb18030" if "gb18030" in path.name else "utf-8-sig"
    raw = path.read_bytes()
    if encoding == "gb18030" and raw.startswith(b"\xef\xbb\xbf"):
        problems.add(rel, "GB18030 file starts with a UTF-8 BOM")
    rows = list(csv.DictReader(raw.decode(encoding).splitlines(keepends=True)))
    for row in rows:
        if None in row or any(v is None for v in row.values()):
            problems.add(rel, f"row {row.get('id')} has the wrong number of fields")
        record = Record(rel, row["id"], parse_date(row["created_at"]))
        record.customer = [row["subject"], customer_part(row["description"])]
        record.titles.add(row["subject"])
        yield record


def read_ticket_jsonl(path: Path, rel: str, problems: Problems) -> Iterator[Record]:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        ticket = json.loads(line)
        if not isinstance(ticket.get("tags"), list):
            problems.add(rel, f"line {number}: tags is not a list")
        record = Record(rel, ticket["id"], parse_date(ticket["created_at"]))
        record.customer = [ticket["subject"], customer_part(ticket["description"])]
        record.titles.add(ticket["subject"])
        for comment in ticket["comments"]:
            if set(comment) != {"author_role", "author", "body", "created_at"}:
                problems.add(rel, f"line {number}: a comment has keys {sorted(comment)}")
            if comment["author_role"] in ("customer", "end-user", "requester"):
                record.customer.append(customer_part(comment["body"]))
        yield record


def read_call_txt(path: Path, rel: str, problems: Problems) -> Iterator[Record]:
    lines = path.read_text(encoding="utf-8").split("\n")
    fields, body = front_matter(lines, rel, problems)
    record = Record(rel, fields.get("id", ""), parse_date(fields.get("created_at", "2000-01-01")))
    for line in lines[body:]:
        if not line.strip():
            continue
        match = _LABEL.match(line)
        if match is None:
            problems.add(rel, f"line without a speaker label: {line[:40]!r}")
            continue
        label = re.sub(r"\(.*\)$", "", match.group(2)).casefold()
        if label in CUSTOMER_LABELS:
            record.customer.append(match.group(4))
        elif label not in AGENT_LABELS:
            problems.add(rel, f"unknown speaker label {label!r}")
    yield record


def cue_blocks(text: str, rel: str, fmt: str, problems: Problems) -> list[list[str]]:
    """Text lines of each cue, after checking the cue structure of WebVTT or SRT."""
    blocks = [b.split("\n") for b in text.strip("\n").split("\n\n")]
    cues: list[list[str]] = []
    if fmt == "vtt":
        if blocks[0][0] != "WEBVTT":
            problems.add(rel, "does not start with WEBVTT")
        blocks = [b for b in blocks[1:] if not b[0].startswith("NOTE")]
    for number, block in enumerate(blocks, 1):
        timing = 1 if fmt == "srt" or not _TIMING.match(block[0]) else 0
        if fmt == "srt" and block[0] != str(number):
            problems.add(rel, f"cue {number} has index {block[0]!r}")
        match = _TIMING.match(block[timing]) if len(block) > timing else None
        if match is None:
            problems.add(rel, f"cue {number} has no timing line")
            continue
        start, end = match.groups()
        if ("," in start) != (fmt == "srt") or start >= end:
            problems.add(rel, f"cue {number} has bad times {start} --> {end}")
        cues.append(block[timing + 1 :])
    return cues


def read_subtitles(path: Path, rel: str, problems: Problems) -> Iterator[Record]:
    fmt = path.suffix[1:]
    stamp = _REC_DATE.search(path.name)
    created = datetime.strptime(stamp.group(1), "%Y%m%d").date() if stamp else date(2000, 1, 1)
    record = Record(rel, path.stem, created)
    speakers: list[str] = []
    for cue in cue_blocks(path.read_text(encoding="utf-8"), rel, fmt, problems):
        for line in cue:
            voice = _VOICE.match(line)
            diarised = _DIARISED.match(line)
            label = _LABEL.match(line)
            if voice:
                speaker, said = voice.groups()
            elif diarised:
                speaker = diarised.group(1) or diarised.group(3)
                said = diarised.group(2) or diarised.group(4)
            elif label:
                speaker, said = label.group(2), label.group(4)
            else:
                problems.add(rel, f"cue line without a speaker: {line[:40]!r}")
                continue
            if speaker not in speakers:
                speakers.append(speaker)
            key = speaker.casefold()
            first_is_agent = speakers.index(speaker) > 0 and key not in AGENT_LABELS
            if key in CUSTOMER_LABELS or (key not in AGENT_LABELS and first_is_agent):
                record.customer.append(said)
    yield record


def read_calls_json(path: Path, rel: str, problems: Problems) -> Iterator[Record]:
    calls = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(calls, list):
        problems.add(rel, "is not a JSON array of calls")
        return
    for call in calls:
        record = Record(rel, call["id"], parse_date(call["created_at"]))
        for turn in call["turns"]:
            role = str(turn.get("role") or turn.get("speaker")).casefold()
            if role in CUSTOMER_LABELS:
                record.customer.append(turn["text"])
            elif role not in AGENT_LABELS:
                problems.add(rel, f"{call['id']}: turn with unknown speaker {role!r}")
        yield record


def read_reviews_csv(path: Path, rel: str, problems: Problems) -> Iterator[Record]:
    text = path.read_bytes().decode("utf-8")
    for row in csv.DictReader(text.splitlines(keepends=True)):
        if not 1 <= int(row["rating"]) <= 5:
            problems.add(rel, f"{row['review_id']}: rating {row['rating']}")
        record = Record(rel, row["review_id"], parse_date(row["date"]))
        record.customer = [row["title"], row["review"]]
        record.titles.add(row["title"])
        yield record


def read_reviews_jsonl(path: Path, rel: str, problems: Problems) -> Iterator[Record]:
    for line in path.read_text(encoding="utf-8").splitlines():
        review = json.loads(line)
        if not 1 <= review["rating"] <= 5:
            problems.add(rel, f"{review['id']}: rating {review['rating']}")
        record = Record(rel, review["id"], parse_date(review["created_at"]))
        record.customer = [review["content"]]
        yield record


def read_interview(path: Path, rel: str, problems: Problems) -> Iterator[Record]:
    lines = path.read_text(encoding="utf-8").split("\n")
    fields, body = front_matter(lines, rel, problems)
    record = Record(rel, fields.get("id", ""), parse_date(fields.get("date", "2000-01-01")))
    participant = fields.get("participant", "").casefold()
    for line in lines[body:]:
        match = _LABEL.match(line) if line and not line.startswith("#") else None
        if match is None:
            continue
        label = match.group(2).strip().casefold()
        if label in ("受访者", "participant", participant):
            record.customer.append(match.group(4))
    yield record


READERS = {
    ("tickets", ".csv"): read_ticket_csv,
    ("tickets", ".jsonl"): read_ticket_jsonl,
    ("calls", ".txt"): read_call_txt,
    ("calls", ".vtt"): read_subtitles,
    ("calls", ".srt"): read_subtitles,
    ("calls", ".json"): read_calls_json,
    ("reviews", ".csv"): read_reviews_csv,
    ("reviews", ".jsonl"): read_reviews_jsonl,
    ("interviews", ".md"): read_interview,
}


def courtesy() -> list[str]:
    """Greetings, thanks and acknowledgements the generator may put around gold sentences."""
    talk = load_toml(HERE / "bank" / "dialogue.toml")
    keys = ("verify_customer", "close_customer", "greet_customer", "thanks_customer")
    keys += ("open_customer", "interview_close_customer")
    found = [text for lang in ("zh", "en") for key in keys for text in talk[lang][key]]
    return sorted(found, key=len, reverse=True)


def check() -> int:
    problems = Problems()
    records: dict[tuple[str, str], Record] = {}
    raw: dict[str, str] = {}
    size = 0
    for folder in ("tickets", "calls", "reviews", "interviews"):
        for path in sorted((HERE / folder).rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(HERE).as_posix()
            size += path.stat().st_size
            reader = READERS.get((folder, path.suffix))
            if reader is None:
                problems.add(rel, "no reader for this kind of file")
                continue
            encoding = "gb18030" if "gb18030" in path.name else "utf-8-sig"
            raw[rel] = path.read_bytes().decode(encoding)
            for record in reader(path, rel, problems):
                if (rel, record.external_id) in records:
                    problems.add(rel, f"duplicate id {record.external_id}")
                records[(rel, record.external_id)] = record
    gold_path = HERE / "gold.csv"
    size += gold_path.stat().st_size
    gold = list(csv.DictReader(gold_path.read_text(encoding="utf-8").splitlines(keepends=True)))
    themes = load_themes()
    leftovers: dict[tuple[str, str], list[str]] = {
        key: list(r.customer) for key, r in records.items()
    }
    for number, row in enumerate(gold, 2):
        where = f"gold.csv line {number}"
        key = (row["file"], row["external_id"])
        record = records.get(key)
        if record is None:
            problems.add(where, f"no record {row['external_id']} in {row['file']}")
            continue
        if row["text"] not in raw[row["file"]]:
            problems.add(where, f"text not verbatim in {row['file']}: {row['text']!r}")
        parts = leftovers[key]
        hit = next((i for i, part in enumerate(parts) if row["text"] in part), None)
        if hit is None:
            problems.add(where, f"text not in the customer text of {row['external_id']}")
        else:
            parts[hit] = parts[hit].replace(row["text"], "\x00", 1)
        if row["theme"] not in themes:
            problems.add(where, f"unknown theme {row['theme']}")
        if int(row["week"]) != week_of(record.created):
            problems.add(where, f"week {row['week']} but the record is dated {record.created}")
        try:
            check_sentence(row["text"], row["lang"], subject=row["text"] in record.titles)
        except ValueError as exc:
            problems.add(where, str(exc))
    polite = courtesy()
    for (rel, external_id), parts in leftovers.items():
        rest = "\n".join(parts)
        for text in polite:
            rest = rest.replace(text, "")
        rest = re.sub(r"[\s\x00，,。！？.!?]+", "", rest)
        if rest:
            problems.add(rel, f"{external_id}: customer text without a gold row: {rest[:60]!r}")
    if size > MAX_BYTES:
        problems.add("corpus", f"{size} bytes, over the {MAX_BYTES} limit")
    for message in trend_problems(gold):
        problems.add("trends", message)
    report(gold, themes, records, size)
    for problem in problems[:50]:
        print("PROBLEM", problem)
    if problems:
        print(f"{len(problems)} problems")
        return 1
    print("all checks passed")
    return 0


def trend_problems(gold: list[dict[str, str]]) -> list[str]:
    """The trends README.md promises, so that a change to the banks cannot quietly lose them."""
    weekly: dict[str, list[int]] = defaultdict(lambda: [0] * (WEEKS + 1))
    for row in gold:
        weekly[row["theme"]][int(row["week"])] += 1
    face, renew = weekly["face_verification"], weekly["auto_renewal"]
    found: list[str] = []
    if max(face[1:6]) > 3 or min(face[6:8]) < 30 or max(face[10:]) * 2 > face[8]:
        found.append(f"face_verification is not absent, spiking, then fading: {face[1:]}")
    if sum(renew[9:]) < 2 * sum(renew[1:5]):
        found.append(f"auto_renewal does not grow: {renew[1:]}")
    for theme in ("coupon", "mall_delivery"):
        counts = weekly[theme]
        if counts.index(max(counts)) != 7:
            found.append(f"{theme} does not peak in week 7 (the 818 sale): {counts[1:]}")
    savings = weekly["savings_rate"]
    if max(savings[9:11]) <= max(savings[1:9]):
        found.append(f"savings_rate does not jump after the rate cut: {savings[1:]}")
    return found


def report(gold: list[dict[str, str]], themes: dict, records: dict, size: int) -> None:
    by_theme: dict[str, Counter[str]] = defaultdict(Counter)
    weekly: dict[str, Counter[int]] = defaultdict(Counter)
    for row in gold:
        by_theme[row["theme"]][row["lang"]] += 1
        weekly[row["theme"]][int(row["week"])] += 1
        weekly["(all)"][int(row["week"])] += 1
    langs = Counter(row["lang"] for row in gold)
    sources = Counter(row["file"].split("/")[0] for row in gold)
    print(f"{len(gold)} gold units in {len(records)} records, {size / 1e6:.2f} MB")
    print("languages:", ", ".join(f"{k} {v} ({v / len(gold):.0%})" for k, v in langs.items()))
    print("sources:", ", ".join(f"{k} {v}" for k, v in sorted(sources.items())))
    print("intents:", dict(Counter(row["intent"] for row in gold).most_common()))
    print("stages:", dict(Counter(row["stage"] for row in gold).most_common()))
    print("signals:", dict(Counter(row["signal"] or "-" for row in gold).most_common()))
    print()
    head = "".join(f"{w:>4}" for w in range(1, WEEKS + 1))
    print(f"{'theme':<20}{'zh':>5}{'en':>5}{'bank zh':>8}{'bank en':>8}  weeks:{head}")
    for theme_id in [*sorted(themes), "(all)"]:
        counts = by_theme.get(theme_id, Counter())
        if theme_id == "(all)":
            counts = langs
            bank = ("", "")
        else:
            pools = themes[theme_id].pools
            bank = tuple(
                sum(len(p) for k, p in pools.items() if k.split("_")[0] == lang and "hant" not in k)
                for lang in ("zh", "en")
            )
        cells = "".join(f"{weekly[theme_id][w]:>4}" for w in range(1, WEEKS + 1))
        line = f"{theme_id:<20}{counts['zh']:>5}{counts['en']:>5}{bank[0]:>8}{bank[1]:>8}"
        print(f"{line}        {cells}")
    print()


if __name__ == "__main__":
    sys.exit(check())
