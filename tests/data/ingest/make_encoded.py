"""Write the ingest test files whose exact bytes matter: GB18030/GBK, Big5 and UTF-16 text,
byte-order marks, CRLF line ends, NUL bytes and binary files.

Editors and git settings can silently re-encode such files, so they are generated here and
committed; the tests compare each decoded file with the text below.

    python tests/data/ingest/make_encoded.py
"""

from __future__ import annotations

import codecs
import random
import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

# path relative to this folder -> (text, codec, byte-order mark or b"")
ENCODED: dict[str, tuple[str, str, bytes]] = {
    "tickets/tickets_gb18030.csv": (
        "id,subject,description,tags,created_at,channel\r\n"
        "T-3001,无法登录,换了新手机以后一直登录不上，验证码也收不到。,登录;验证码,"
        "2024-03-05 10:22,app\r\n"
        'T-3002,退款未到账,"3月1日申请的退款，客服说三个工作日内到账，现在已经一周了还没收到。\r\n'
        '请尽快处理！",退款,2024年3月6日 09:15,web\r\n'
        "T-3003,付款失败,在𠮷野家用钱包付款失败，提示“商户不支持”。,付款,2024/3/7,app\r\n",
        "gb18030",
        b"",
    ),
    "tickets/tickets_gbk_short.csv": ("id,subject\r\nS-1,扫码付款失败\r\n", "gbk", b""),
    "tickets/tickets_gbk_two_rows.csv": (
        "id,description\nS-2,登录不上\nS-3,退款没到账\n",
        "gbk",
        b"",
    ),
    "tickets/tickets_excel.csv": (
        "id;subject;description;tags;created_at\r\n"
        'E-1;Card payment failed;"Paid at the pharmacy; the card was declined twice.\r\n'
        'The bank says there is no block on it.";"card;payment";2024-03-09 18:40\r\n'
        'E-2;"Refund ""pending"" for 10 days";"我在 3 月 1 日申请退款，状态一直是""处理中""。";'
        "refund;2024-03-10 08:05\r\n",
        "utf-8",
        codecs.BOM_UTF8,
    ),
    "tickets/tickets_utf16le.tsv": (
        "id\tsubject\tdescription\tcreated_at\r\n"
        "U-1\t登录验证码收不到\t换了手机号以后收不到短信验证码。\t2024-03-08\r\n"
        "U-2\tWallet balance wrong\tMy balance shows ¥0 after the top-up.\t2024-03-08\r\n",
        "utf-16-le",
        codecs.BOM_UTF16_LE,
    ),
    "tickets/tickets_nul.csv": (
        "id,subject,description\n"
        "N-1,Top-up\x00 failed,Top-up failed\x00\x00 with error 1022.\n"
        "N-2,Login,Cannot log in since Monday.\n",
        "utf-8",
        b"",
    ),
    "tickets/header_only.csv": ("id,subject,description\r\n", "utf-8", b""),
    "tickets/empty.csv": ("", "utf-8", b""),
    "reviews/reviews_big5.csv": (
        "id,title,text,rating,platform,date\r\n"
        "TW-1,介面好用,轉帳很方便，介面也很清楚。,5,ios,2024-03-02\r\n"
        "TW-2,常常閃退,更新之後一打開就閃退，已經重裝兩次了。,1,android,2024-03-03\r\n"
        "TW-3,客服回覆太慢,退款申請送出一個禮拜了，客服都沒有回覆。,2,android,2024-03-04\r\n",
        "big5",
        b"",
    ),
    "reviews/reviews_big5_short.csv": ("id,rating,text\nTW-9,1,帳戶被凍結\n", "big5", b""),
    "reviews/reviews_utf16be.csv": (
        "id,rating,text\r\nB-1,2,提现到账太慢了，要等三天。\r\n",
        "utf-16-be",
        codecs.BOM_UTF16_BE,
    ),
    "calls/call_gb18030.txt": (
        "---\r\nid: CALL-GB-001\r\ncreated_at: 2024-03-08 16:30\r\n---\r\n"
        "客服：您好，请问有什么可以帮您？\r\n"
        "客户：我的钱包余额提现失败了，提示“银行处理中”。\r\n"
        "客服：请您稍等，我帮您查询。\r\n",
        "gb18030",
        b"",
    ),
    "interviews/interview_bom_crlf.md": (
        "---\r\nid: INT-BOM-1\r\ninterviewer: Kim\r\n---\r\n"
        "Kim: Why did you stop using the card?\r\n"
        "Lee: The virtual card was declined on two airline sites.\r\n"
        "Kim: What did you use instead?\r\n"
        "Lee: My old credit card, which charges a foreign-currency fee.\r\n",
        "utf-8",
        codecs.BOM_UTF8,
    ),
}


def encoded_bytes(text: str, codec: str, bom: bytes) -> bytes:
    return bom + text.encode(codec)


def png_bytes() -> bytes:
    """A valid 1x1 white PNG: what a screenshot dropped into the export folder looks like."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


BINARY: dict[str, bytes] = {
    "tickets/screenshot.png": png_bytes(),
    "tickets/screenshot_renamed.csv": png_bytes(),
    "tickets/random.csv": random.Random(20240305).randbytes(4096),
}


def main() -> None:
    for name, (text, codec, bom) in ENCODED.items():
        (HERE / name).write_bytes(encoded_bytes(text, codec, bom))
    for name, data in BINARY.items():
        (HERE / name).write_bytes(data)


if __name__ == "__main__":
    main()
