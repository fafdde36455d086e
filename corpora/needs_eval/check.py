"""Validate the held-out needs evaluation set (zh.csv, en.csv, hard_ids.txt); print its counts.

Standard library only. Run from the repository root:

    .venv/bin/python corpora/needs_eval/check.py

Exits 1 and lists every problem when a file breaks the format or the balance rules in
corpora/needs_eval/README.md; otherwise prints the count tables (Markdown) and exits 0.
"""

from __future__ import annotations

import csv
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
LANGS = ("zh", "en")
COLUMNS = ["id", "lang", "source", "domain", "text", "intent", "sentiment", "stage", "signals"]

SOURCES = ("ticket", "call", "review", "interview", "survey")
INTENTS = ("pain", "request", "question", "praise", "other")
SENTIMENTS = ("negative", "neutral", "positive")
STAGES = ("discover", "evaluate", "purchase", "onboard", "use", "support", "renew_churn")
SIGNALS = ("workaround", "effort", "confusion", "churn_risk", "comparison", "urgency")
DOMAIN_RE = re.compile(r"^[a-z][a-z_]{1,23}$")

MIN_ROWS = 330
MIN_INTENT = {"pain": 50, "request": 50, "question": 50, "praise": 50, "other": 40}
MAX_PAIN_SHARE = 0.35
MIN_STAGE = {s: 30 for s in STAGES if s != "use"}
MAX_USE_SHARE = 0.30
MIN_SIGNAL = 20
MIN_SENTIMENT = 60
MIN_DOMAINS = 10
MAX_DOMAIN_SHARE = 0.20
MIN_HARD = 40  # ids listed in hard_ids.txt, per language

# Report-only heuristics (they never fail the check).
# Traditional-only characters: the 600 most frequent characters (by jieba's dictionary) whose
# OpenCC s2t form differs and is not itself a common Simplified character. A unit containing
# any of them is counted as written in Traditional script.
TRAD_ONLY = frozenset(
    "國爲這個來會時學說們於發對長過業裏經門動進區開產軍還種現機體與當兩實麼關從內沒將員東頭間無見戰點場數樣問並萬級應資務漢總"
    "電聲設義統處馬兒領隊計別權話報給變書幾華議稱決張導術結師達題條規縣風運組聽濟黨論強黃選記卻職號類傳帶幹農邊據聯廣質陽難歷"
    "專認車臺遊舉線團爭衆連調轉該爾讓較際親單紅價約亞則屬積圖準極裝許參喫觀魚辦復遠羣構隨劃勢熱網語鐵斷愛紀況證編滿覺雙樂標確"
    "織項飛節龍響藥輕擊請離顯羅營視護創餘興佔雖費試寶識維採宮環鬥鄉責嚴橋僅勝殺圍態楊負層須續狀銀範終錢賽獨衝獲習醫盡臉彈樓藝"
    "陸協鎮檢寫蘇驗緊勞戶優財養適陳衛雲傷絕階劉剛億聞審壓監敵蘭溫園樹徵詞島預繼執誰驚畫輯劍談禮願築亂講臨揮歐葉擔歲荊貴轄幫塊"
    "額錯劇歡夠孫陣銷堅練腳讀測吳寧換異顧順鮮敗貨礦歸買險評嗎廠遺筆輸漸頂訓錄畢豐獻爺納鍾腦飯擴齊趕訴詩礎屆靜盤賣灣減祕靈雜澤"
    "側慶媽館補舊輪婦載懷軟槍牆惡頓穩諸綠榮針寬庫罷謝頁擁聖戲獎巖幣圓燒討煙誤療閉脫尋崗麗橫駐紙奪燈壞絲徑陰牀擇憲峯魯廟艦課奧"
    "虛隱糧絡搖潛莊廳趙訪韋噸揚縱紛貿匯滅儀緩蓋跡釋潤嶺慮鋼碼壇錛損稅綜倫掛韓競烏鋪脈純謀劑謂頻壯騎雞蟲紹銅擺籤縮廢訂績鹽薩貼"
    "觸蓮搶鬧紡訊譽夢夥峽殘閃賊傾貧諾麥淚輩鏡貢緣貝罵嶽飲奮躍贊啓閣勁晉溝鋒膽憑闖湯遷嘆儲貫徹鳳賞遼詢毀淨棄畝屍偉覽齡繞濃緒藍"
    "蕩閱鴻慣鳥辭窮鍵遞隸厲閒襲災漲溼鄭譯鄧腸詔冊鍋闊趨錦顏懸誠曉蔣攝罰輛騰繪撲頒違貸飾滾遲輔煩盜涼岡駕肅撫煉綱傑憂掃暫漁賓壽"
)
CJK_RE = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD_RE = re.compile(r"[A-Za-z]{3,}")
# Latin-script words that are ordinary in Chinese text and do not make a unit mixed-language.
ZH_LOANWORDS = frozenset({"app", "wifi", "excel", "paypal", "netflix", "keep", "store"})
# Non-CJK code-mixing markers seen in English units (Singlish, Spanish).
EN_MIX_MARKERS = frozenset({"lah", "aiyo", "teruk", "amable"})


def is_traditional(text: str) -> bool:
    return any(ch in TRAD_ONLY for ch in text)


def is_mixed(text: str, lang: str) -> bool:
    """Rough code-mixing test: English words in a zh unit, CJK or marker words in an en unit."""
    words = LATIN_WORD_RE.findall(text)
    if lang == "zh":
        return any(not w.isupper() and w.lower() not in ZH_LOANWORDS for w in words)
    return bool(CJK_RE.search(text)) or any(w.lower() in EN_MIX_MARKERS for w in words)


def load(lang: str, problems: list[str]) -> list[dict[str, str]]:
    path = HERE / f"{lang}.csv"
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        problems.append(f"{path.name}: starts with a UTF-8 BOM")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"{path.name}: not UTF-8 ({exc})")
        return []
    reader = csv.DictReader(text.splitlines(keepends=True))
    if reader.fieldnames != COLUMNS:
        problems.append(f"{path.name}: columns {reader.fieldnames} != {COLUMNS}")
        return []
    rows = list(reader)
    for n, row in enumerate(rows, 1):
        where = f"{path.name} row {n} ({row.get('id')})"
        if None in row or any(v is None for v in row.values()):
            problems.append(f"{where}: wrong number of fields")
            continue
        if row["id"] != f"{lang}-{n:04d}":
            problems.append(f"{where}: id should be {lang}-{n:04d}")
        if row["lang"] != lang:
            problems.append(f"{where}: lang {row['lang']!r} != {lang!r}")
        if row["source"] not in SOURCES:
            problems.append(f"{where}: source {row['source']!r}")
        if not DOMAIN_RE.match(row["domain"]):
            problems.append(f"{where}: domain {row['domain']!r} is not a short lower-case word")
        if not row["text"].strip() or row["text"] != row["text"].strip() or "\n" in row["text"]:
            problems.append(f"{where}: empty text, stray whitespace or a line break")
        if row["intent"] not in INTENTS:
            problems.append(f"{where}: intent {row['intent']!r}")
        if row["sentiment"] not in SENTIMENTS:
            problems.append(f"{where}: sentiment {row['sentiment']!r}")
        if row["stage"] not in STAGES:
            problems.append(f"{where}: stage {row['stage']!r}")
        sigs = row["signals"].split(";") if row["signals"] else []
        if any(s not in SIGNALS for s in sigs) or len(set(sigs)) != len(sigs):
            problems.append(f"{where}: signals {row['signals']!r}")
        if lang == "zh" and not CJK_RE.search(row["text"]):
            problems.append(f"{where}: no Chinese characters in a zh unit")
        if lang == "en" and len(CJK_RE.findall(row["text"])) > len(row["text"]) / 4:
            problems.append(f"{where}: mostly Chinese text in an en unit")
    return rows


def load_hard(data: dict[str, list[dict[str, str]]], problems: list[str]) -> set[str]:
    """Ids in hard_ids.txt (one per line, '#' comments): units written as deliberate hard cases."""
    known = {r["id"] for rows in data.values() for r in rows}
    ids = [
        line.strip()
        for line in (HERE / "hard_ids.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for i in ids:
        if i not in known:
            problems.append(f"hard_ids.txt: unknown id {i}")
    if len(ids) != len(set(ids)):
        problems.append("hard_ids.txt: repeated ids")
    return set(ids)


def counts(rows: list[dict[str, str]]) -> dict[str, Counter]:
    c = {
        k: Counter(r[k] for r in rows) for k in ("intent", "sentiment", "stage", "source", "domain")
    }
    c["signal"] = Counter(s for r in rows if r["signals"] for s in r["signals"].split(";"))
    c["signal"]["(none)"] = sum(1 for r in rows if not r["signals"])
    return c


def balance(
    lang: str, rows: list[dict[str, str]], c: dict[str, Counter], problems: list[str]
) -> None:
    n = len(rows)
    if n < MIN_ROWS:
        problems.append(f"{lang}: {n} rows < {MIN_ROWS}")
    for k, lo in MIN_INTENT.items():
        if c["intent"][k] < lo:
            problems.append(f"{lang}: intent {k} {c['intent'][k]} < {lo}")
    if n and c["intent"]["pain"] > MAX_PAIN_SHARE * n:
        problems.append(f"{lang}: pain {c['intent']['pain']} > {MAX_PAIN_SHARE:.0%} of {n}")
    for k, lo in MIN_STAGE.items():
        if c["stage"][k] < lo:
            problems.append(f"{lang}: stage {k} {c['stage'][k]} < {lo}")
    if n and c["stage"]["use"] > MAX_USE_SHARE * n:
        problems.append(f"{lang}: stage use {c['stage']['use']} > {MAX_USE_SHARE:.0%} of {n}")
    for k in SIGNALS:
        if c["signal"][k] < MIN_SIGNAL:
            problems.append(f"{lang}: signal {k} {c['signal'][k]} < {MIN_SIGNAL}")
    for k in SENTIMENTS:
        if c["sentiment"][k] < MIN_SENTIMENT:
            problems.append(f"{lang}: sentiment {k} {c['sentiment'][k]} < {MIN_SENTIMENT}")
    if len(c["domain"]) < MIN_DOMAINS:
        problems.append(f"{lang}: {len(c['domain'])} domains < {MIN_DOMAINS}")
    for d, k in c["domain"].items():
        if k > MAX_DOMAIN_SHARE * n:
            problems.append(f"{lang}: domain {d} {k} > {MAX_DOMAIN_SHARE:.0%} of {n}")
    texts = Counter(r["text"] for r in rows)
    for t, k in texts.items():
        if k > 1:
            problems.append(f"{lang}: text repeated {k} times: {t}")
    ids = Counter(r["id"] for r in rows)
    for i, k in ids.items():
        if k > 1:
            problems.append(f"{lang}: id repeated: {i}")


def table(title: str, keys: list[str], per_lang: dict[str, Counter]) -> str:
    lines = [f"| {title} | " + " | ".join(LANGS) + " |", "|---|" + "---:|" * len(LANGS)]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(str(per_lang[lang][k]) for lang in LANGS) + " |")
    return "\n".join(lines)


def main() -> int:
    problems: list[str] = []
    data = {lang: load(lang, problems) for lang in LANGS}
    stats = {lang: counts(rows) for lang, rows in data.items()}
    for lang, rows in data.items():
        balance(lang, rows, stats[lang], problems)
    hard = load_hard(data, problems)
    for lang in LANGS:
        k = sum(1 for i in hard if i.startswith(f"{lang}-"))
        if k < MIN_HARD:
            problems.append(f"{lang}: {k} hard cases in hard_ids.txt < {MIN_HARD}")
    # The same text must not appear in both files either.
    shared = {r["text"] for r in data["zh"]} & {r["text"] for r in data["en"]}
    for t in sorted(shared):
        problems.append(f"text in both files: {t}")

    def col(key: str) -> dict[str, Counter]:
        return {lang: stats[lang][key] for lang in LANGS}

    extra = {
        lang: Counter(
            rows=len(rows),
            hard_cases=sum(r["id"] in hard for r in rows),
            mixed_language=sum(is_mixed(r["text"], lang) for r in rows),
            traditional_script=sum(is_traditional(r["text"]) for r in rows) if lang == "zh" else 0,
            multi_signal=sum(r["signals"].count(";") > 0 for r in rows),
        )
        for lang, rows in data.items()
    }
    domains = sorted(set(stats["zh"]["domain"]) | set(stats["en"]["domain"]))
    print(
        table(
            "total",
            ["rows", "hard_cases", "mixed_language", "traditional_script", "multi_signal"],
            extra,
        )
    )
    print()
    print(table("intent", list(INTENTS), col("intent")))
    print()
    print(table("sentiment", list(SENTIMENTS), col("sentiment")))
    print()
    print(table("stage", list(STAGES), col("stage")))
    print()
    print(table("signal", [*SIGNALS, "(none)"], col("signal")))
    print()
    print(table("source", list(SOURCES), col("source")))
    print()
    print(table("domain", domains, col("domain")))
    if problems:
        print(f"\nFAILED: {len(problems)} problem(s)", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print("\nOK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
