"""Validate the needs training set (corpora/needs_train/zh.csv, en.csv).

Standard library only. Run from anywhere:

    python corpora/needs_train/check.py

Checks columns and allowed values, unique ids and texts, the balance rules in README.md,
and that no sentence is copied verbatim from corpora/demo/. Prints a count table per
language and exits non-zero when a rule fails. It never reads corpora/needs_eval/.
"""

from __future__ import annotations

import csv
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEMO = HERE.parent / "demo"

COLUMNS = ["id", "lang", "source", "domain", "text", "intent", "sentiment", "stage", "signals"]
SOURCES = {"ticket", "call", "review", "interview", "survey"}
INTENTS = ["pain", "request", "question", "praise", "other"]
SENTIMENTS = ["negative", "neutral", "positive"]
STAGES = ["discover", "evaluate", "purchase", "onboard", "use", "support", "renew_churn"]
SIGNALS = ["workaround", "effort", "confusion", "churn_risk", "comparison", "urgency"]
PREFIX = {"zh": "tzh", "en": "ten"}

MIN_ROWS = 1000
MIN_DOMAINS = 20
MAX_DOMAIN_SHARE = 0.10
INTENT_RULES = {
    "pain": (0.30, 0.35),
    "request": (0.15, 1),
    "question": (0.15, 1),
    "praise": (0.15, 1),
    "other": (0.12, 1),
}
STAGE_MIN = 0.09  # every stage except use
USE_MAX = 0.30
SENTIMENT_MIN = 0.15
SIGNAL_MIN = 50
HARD_MIN = 0.15  # share of units with at least one hard-case cue (heuristic, see hard_indicators)

HAN = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")
# Characters that only occur in Traditional Chinese (their Simplified forms differ).
TRAD_ONLY = set(
    "們這個說麼沒過還會對時種樣裡後發來為與讓處續費訂開關際話嗎幫電網學體術報號買賣單點換寫課"
    "問題錯誤機車門鎖聽貨運帳戶務頁應設備護緊幾歡員區選擇繼產長實銷預臺灣間經驗戲遊飯廳資詢"
)


EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")
NEGATION = re.compile(
    r"不是很|没什么|沒什麼|木有|不算|不得不|说实话|not bad|can't say|not exactly|don't want to be|honestly",
    re.I,
)
INFORMAL = re.compile(
    r"咋|啥|木有|坑|呵呵|哈哈|真香|一批|寂寞|登陆|亲妈|\b(u|ur|r|pls|ngl|tbh|lol|rn|cant|dont|didnt|im|recieve|recieved|elses)\b",
    re.I,
)
SARCASM = re.compile(
    r"“[^”]{1,6}”|「[^」]{1,6}」|真会|可真|好一个|好家伙|great,|oh good|cool cool|love that|wow|lovely|nice\.|flawless|impressive reversal|truly|champions",
    re.I,
)


def hard_indicators(rows: list[dict[str, str]]) -> int:
    """Rough, informational count of units showing at least one hard-case cue."""
    n = 0
    for r in rows:
        t = r["text"]
        short = len(t) <= (8 if r["lang"] == "zh" else 16)
        rhetorical = r["intent"] == "pain" and t.rstrip().endswith(("?", "？"))
        req_q = r["intent"] == "request" and t.rstrip().endswith(("?", "？"))
        mixed = (r["lang"] == "zh" and LATIN_WORD.search(t)) or (
            r["lang"] == "en" and HAN.search(t)
        )
        sig = set(r["signals"].split(";"))
        one_sided = ("comparison" in sig) != ("churn_risk" in sig)
        neutral_workaround = r["intent"] == "other" and "workaround" in sig
        cues = (
            short,
            rhetorical,
            req_q,
            bool(mixed),
            bool(EMOJI.search(t)),
            bool(NEGATION.search(t)),
            bool(SARCASM.search(t)),
            bool(INFORMAL.search(t)),
            one_sided,
            neutral_workaround,
        )
        n += any(cues)
    return n


def pct(n: int, total: int) -> str:
    return f"{n:4d} {100 * n / total:5.1f}%"


def demo_texts() -> set[str]:
    """Every line/cell of the demo corpus, to make sure nothing was copied from it."""
    seen: set[str] = set()
    if not DEMO.is_dir():
        return seen
    for path in DEMO.rglob("*"):
        if (
            path.suffix not in {".csv", ".txt", ".jsonl", ".json", ".md", ".tsv"}
            or not path.is_file()
        ):
            continue
        try:
            content = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for line in content.splitlines():
            for part in re.split(r'[\t,"|]', line):
                part = part.strip()
                if len(part) >= 8:
                    seen.add(part)
    return seen


def check_file(lang: str, errors: list[str]) -> list[dict[str, str]]:
    path = HERE / f"{lang}.csv"
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        errors.append(f"{path.name}: starts with a BOM")
    text = raw.decode("utf-8")
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames != COLUMNS:
        errors.append(f"{path.name}: columns {reader.fieldnames} != {COLUMNS}")
        return []
    rows = list(reader)
    id_re = re.compile(rf"^{PREFIX[lang]}-\d{{4}}$")
    for n, row in enumerate(rows, start=2):
        where = f"{path.name}:{n}"
        if None in row or any(v is None for v in row.values()):
            errors.append(f"{where}: wrong number of fields")
            continue
        if not id_re.match(row["id"]):
            errors.append(f"{where}: bad id {row['id']!r}")
        if row["lang"] != lang:
            errors.append(f"{where}: lang {row['lang']!r}")
        if row["source"] not in SOURCES:
            errors.append(f"{where}: source {row['source']!r}")
        if not re.fullmatch(r"[a-z][a-z_]{1,30}", row["domain"]):
            errors.append(f"{where}: domain {row['domain']!r}")
        if not row["text"].strip() or row["text"] != row["text"].strip():
            errors.append(f"{where}: empty text or surrounding whitespace")
        if row["intent"] not in INTENTS:
            errors.append(f"{where}: intent {row['intent']!r}")
        if row["sentiment"] not in SENTIMENTS:
            errors.append(f"{where}: sentiment {row['sentiment']!r}")
        if row["stage"] not in STAGES:
            errors.append(f"{where}: stage {row['stage']!r}")
        sigs = row["signals"].split(";") if row["signals"] else []
        if any(s not in SIGNALS for s in sigs) or len(set(sigs)) != len(sigs):
            errors.append(f"{where}: signals {row['signals']!r}")
        if lang == "zh" and not HAN.search(row["text"]):
            errors.append(f"{where}: no Chinese characters in a zh row")
        if lang == "en" and len(HAN.findall(row["text"])) > len(row["text"]) // 3:
            errors.append(f"{where}: mostly Chinese text in an en row")
    for col in ("id", "text"):
        dup = [k for k, v in Counter(r[col] for r in rows).items() if v > 1]
        if dup:
            errors.append(f"{path.name}: duplicate {col}s: {dup[:5]}")
    return rows


def check_balance(lang: str, rows: list[dict[str, str]], errors: list[str]) -> None:
    total = len(rows)
    if total < MIN_ROWS:
        errors.append(f"{lang}: {total} rows < {MIN_ROWS}")
    if not total:
        return
    intents = Counter(r["intent"] for r in rows)
    for k, (lo, hi) in INTENT_RULES.items():
        share = intents[k] / total
        if not lo <= share <= hi:
            errors.append(f"{lang}: intent {k} {share:.1%} outside {lo:.0%}-{hi:.0%}")
    stages = Counter(r["stage"] for r in rows)
    for k in STAGES:
        share = stages[k] / total
        if k == "use":
            if share > USE_MAX:
                errors.append(f"{lang}: stage use {share:.1%} > {USE_MAX:.0%}")
        elif share < STAGE_MIN:
            errors.append(f"{lang}: stage {k} {share:.1%} < {STAGE_MIN:.0%}")
    sentiments = Counter(r["sentiment"] for r in rows)
    for k in SENTIMENTS:
        if sentiments[k] / total < SENTIMENT_MIN:
            errors.append(
                f"{lang}: sentiment {k} {sentiments[k] / total:.1%} < {SENTIMENT_MIN:.0%}"
            )
    signals = Counter(s for r in rows for s in r["signals"].split(";") if s)
    for k in SIGNALS:
        if signals[k] < SIGNAL_MIN:
            errors.append(f"{lang}: signal {k} on {signals[k]} units < {SIGNAL_MIN}")
    hard = hard_indicators(rows) / total
    if hard < HARD_MIN:
        errors.append(f"{lang}: hard-case cues on {hard:.1%} < {HARD_MIN:.0%} (heuristic)")
    domains = Counter(r["domain"] for r in rows)
    if len(domains) < MIN_DOMAINS:
        errors.append(f"{lang}: {len(domains)} domains < {MIN_DOMAINS}")
    for d, n in domains.items():
        if n / total > MAX_DOMAIN_SHARE:
            errors.append(f"{lang}: domain {d} {n / total:.1%} > {MAX_DOMAIN_SHARE:.0%}")


def table(lang: str, rows: list[dict[str, str]]) -> None:
    total = len(rows)
    print(f"\n== {lang}: {total} units ==")
    for col, keys in (
        ("intent", INTENTS),
        ("sentiment", SENTIMENTS),
        ("stage", STAGES),
        ("source", sorted(SOURCES)),
    ):
        c = Counter(r[col] for r in rows)
        print(f"{col:10s} " + "  ".join(f"{k}={pct(c[k], total)}" for k in keys))
    c = Counter(s for r in rows for s in r["signals"].split(";") if s)
    print(
        f"{'signals':10s} "
        + "  ".join(f"{k}={c[k]}" for k in SIGNALS)
        + f"  (none={sum(1 for r in rows if not r['signals'])})"
    )
    print(
        f"{'hard cues':10s} {pct(hard_indicators(rows), total)} (heuristic: short, rhetorical, request-as-question,"
        " mixed language, emoji, negation, sarcasm, colloquial/typo, comparison xor churn, neutral workaround)"
    )
    domains = Counter(r["domain"] for r in rows)
    top = ", ".join(f"{d} {n}" for d, n in domains.most_common(5))
    print(f"{'domains':10s} {len(domains)} distinct; largest: {top}")
    if lang == "zh":
        trad = sum(1 for r in rows if any(ch in TRAD_ONLY for ch in r["text"]))
        mixed = sum(1 for r in rows if LATIN_WORD.search(r["text"]))
        print(
            f"{'script':10s} traditional (heuristic)={pct(trad, total)}  with Latin words={pct(mixed, total)}"
        )
    else:
        mixed = sum(1 for r in rows if HAN.search(r["text"]))
        print(f"{'script':10s} with Chinese words={pct(mixed, total)}")


def main() -> int:
    errors: list[str] = []
    data = {lang: check_file(lang, errors) for lang in ("zh", "en")}
    for lang, rows in data.items():
        check_balance(lang, rows, errors)
        table(lang, rows)
    zh_texts = {r["text"] for r in data["zh"]}
    cross = [r["text"] for r in data["en"] if r["text"] in zh_texts]
    if cross:
        errors.append(f"texts in both files: {cross[:5]}")
    demo = demo_texts()
    copied = [r["text"] for rows in data.values() for r in rows if r["text"] in demo]
    if copied:
        errors.append(f"{len(copied)} texts also occur in corpora/demo/: {copied[:5]}")
    print()
    if errors:
        for e in errors:
            print("FAIL", e)
        return 1
    print("OK: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
