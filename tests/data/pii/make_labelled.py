"""Writes labelled.jsonl, the labelled PII test set, from a fixed seed.

Run `python tests/data/pii/make_labelled.py` from the repository root to regenerate it; the
output is byte-for-byte reproducible, and tests/test_pii.py checks that the committed file still
matches this script.

Why generated: real support tickets carrying real personal data cannot be committed. The
sentences are written as customers of a wallet app and of online shops actually write (Chinese
and English), and the numbers in them are drawn at random in the formats people type them in.
ID numbers and bank cards are random but carry correct checksums (GB 11643 and Luhn), so they
belong to no one; US numbers use the 555-01xx range reserved for fiction. The checksum code
here is written independently of voc.pii so that the labels do not inherit its mistakes.

Near-misses (order and tracking numbers, amounts, dates, versions, transaction ids, IPs, codes,
postal codes, IDs and card numbers with a wrong checksum, masked numbers, IMEIs) sit in the
same sentences as real entities and fill lines of their own.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

SEED = 20240305
OUT = Path(__file__).with_name("labelled.jsonl")

Rng = random.Random
Slot = Callable[[Rng], tuple[str, str | None]]
"""Produces the surface text of one slot and its entity kind (None for a near-miss)."""

# ---------------------------------------------------------------------------------------------
# Checksums (independent of voc.pii)

ID_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]
ID_CHECK = "10X98765432"


def id_check_char(first17: str) -> str:
    return ID_CHECK[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def luhn_check_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(number: str) -> bool:
    return luhn_check_digit(number[:-1]) == number[-1]


def digits(rng: Rng, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


# ---------------------------------------------------------------------------------------------
# Entities

PINYIN_GIVEN = [
    "wei",
    "fang",
    "min",
    "jing",
    "lei",
    "yang",
    "jie",
    "tao",
    "xiaoming",
    "lina",
    "hao",
    "yan",
    "qiang",
    "xiuying",
    "jun",
    "ping",
    "chao",
    "dan",
    "yu",
    "xin",
]
PINYIN_FAMILY = [
    "zhang",
    "wang",
    "li",
    "liu",
    "chen",
    "yang",
    "zhao",
    "huang",
    "zhou",
    "wu",
    "xu",
    "sun",
    "ma",
    "zhu",
    "hu",
    "guo",
    "he",
    "lin",
    "gao",
    "luo",
]
EN_GIVEN = [
    "emily",
    "james",
    "olivia",
    "michael",
    "sophia",
    "daniel",
    "grace",
    "ryan",
    "hannah",
    "kevin",
    "laura",
    "mark",
    "priya",
    "carlos",
    "aisha",
    "tom",
]
EN_FAMILY = [
    "carter",
    "smith",
    "nguyen",
    "patel",
    "johnson",
    "garcia",
    "evans",
    "kim",
    "brown",
    "wilson",
    "murphy",
    "lee",
    "rossi",
    "khan",
    "baker",
    "ortiz",
]
MAIL_CN = [
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "foxmail.com",
    "139.com",
    "aliyun.com",
    "example.com.cn",
    "yeah.net",
    "sohu.com",
]
MAIL_EN = [
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "icloud.com",
    "hotmail.co.uk",
    "example.com",
    "example.org",
    "proton.me",
    "company.example",
    "mail.example.net",
]


def email(rng: Rng) -> tuple[str, str | None]:
    style = rng.randrange(9)
    if style == 0:
        addr = f"{rng.randint(10000, 3999999999)}@qq.com"
    elif style == 1:
        addr = f"1{rng.choice('3589')}{digits(rng, 9)}@{rng.choice(['163.com', '139.com'])}"
    elif style in (2, 3):
        sep = rng.choice([".", "_", "", "-"])
        tail = rng.choice(["", "", str(rng.randint(1, 99)), str(rng.randint(1960, 2005))])
        local = f"{rng.choice(PINYIN_FAMILY)}{sep}{rng.choice(PINYIN_GIVEN)}{tail}"
        addr = f"{local}@{rng.choice(MAIL_CN)}"
    elif style in (4, 5):
        sep = rng.choice([".", "_", ""])
        local = f"{rng.choice(EN_GIVEN)}{sep}{rng.choice(EN_FAMILY)}"
        if rng.random() < 0.3:
            local += str(rng.randint(1, 99))
        addr = f"{local}@{rng.choice(MAIL_EN)}"
    elif style == 6:
        tag = rng.choice(["orders", "bank", "shop"])
        local = f"{rng.choice(EN_GIVEN)[0]}.{rng.choice(EN_FAMILY)}+{tag}"
        addr = f"{local}@{rng.choice(MAIL_EN)}"
    elif style == 7:
        given, family = rng.choice(EN_GIVEN), rng.choice(EN_FAMILY)
        domain = rng.choice(["Outlook.com", "Gmail.com", "Example.COM"])
        addr = f"{given.capitalize()}.{family.capitalize()}@{domain}"
    else:
        dept = rng.choice(["finance", "support", "hr", "ops", "purchasing"])
        domain = rng.choice(["example.com.cn", "corp.example.cn", "example.co.jp"])
        addr = f"{dept}.{rng.choice(PINYIN_FAMILY)}@{domain}"
    return addr, "EMAIL"


MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "145",
    "147",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "170",
    "173",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "193",
    "195",
    "198",
    "199",
]


def cn_mobile_number(rng: Rng) -> str:
    return rng.choice(MOBILE_PREFIXES) + digits(rng, 8)


def cn_mobile(rng: Rng) -> tuple[str, str | None]:
    n = cn_mobile_number(rng)
    a, b, c = n[:3], n[3:7], n[7:]
    form = rng.choices(
        [
            n,
            f"{a} {b} {c}",
            f"{a}-{b}-{c}",
            f"+86 {n}",
            f"+86 {a} {b} {c}",
            f"+86-{n}",
            f"0086 {n}",
            f"86-{n}",
            f"+86{n}",
            f"(+86) {a} {b} {c}",
            f"{a}{b} {c}",
        ],
        weights=[30, 10, 6, 4, 3, 2, 1, 1, 1, 1, 1],
    )[0]
    return form, "PHONE"


CN_AREAS_3 = ["010", "020", "021", "022", "023", "024", "025", "027", "028", "029"]
CN_AREAS_4 = [
    "0371",
    "0411",
    "0512",
    "0532",
    "0571",
    "0591",
    "0731",
    "0755",
    "0757",
    "0769",
    "0871",
    "0898",
    "0351",
    "0451",
]


def cn_landline(rng: Rng) -> tuple[str, str | None]:
    if rng.random() < 0.55:
        area = rng.choice(CN_AREAS_3)
        local = rng.choice("2345678") + digits(rng, 7)
    else:
        area = rng.choice(CN_AREAS_4)
        local = rng.choice("2345678") + digits(rng, rng.choice([6, 7]))
    spaced = f"{local[:-4]} {local[-4:]}"
    form = rng.choices(
        [
            f"{area}-{local}",
            f"({area}){local}",
            f"（{area}）{local}",
            f"{area} {spaced}",
            f"{area}{local}",
            f"+86 {area[1:]} {spaced}",
            f"+86-{area[1:]}-{local}",
            f"86-{area[1:]}-{local}",
            f"({area}) {local}",
        ],
        weights=[30, 6, 6, 6, 3, 3, 2, 1, 2],
    )[0]
    if rng.random() < 0.2:
        ext = str(rng.randint(100, 9999))
        form += rng.choice([f"转{ext}", f"-{ext}", f" 转 {ext}", f"分机{ext}"])
    return form, "PHONE"


def cn_hotline(rng: Rng) -> tuple[str, str | None]:
    head = rng.choice(["400", "400", "800"])
    a, b = digits(rng, 3), digits(rng, 4)
    return rng.choice([f"{head}-{a}-{b}", f"{head} {a} {b}", f"{head}{a}{b}"]), "PHONE"


US_AREAS = [
    "212",
    "213",
    "206",
    "305",
    "312",
    "415",
    "512",
    "617",
    "646",
    "702",
    "718",
    "917",
    "303",
    "404",
    "503",
    "604",
    "416",
    "347",
    "818",
    "971",
]


def nanp_parts(rng: Rng) -> tuple[str, str, str]:
    area = rng.choice(US_AREAS)
    if rng.random() < 0.7:
        return area, "555", f"01{rng.randint(0, 99):02d}"
    return area, rng.choice("23456789") + digits(rng, 2), digits(rng, 4)


def us_phone(rng: Rng) -> tuple[str, str | None]:
    a, b, c = nanp_parts(rng)
    form = rng.choices(
        [
            f"({a}) {b}-{c}",
            f"{a}-{b}-{c}",
            f"{a}.{b}.{c}",
            f"{a} {b} {c}",
            f"+1 {a} {b} {c}",
            f"+1-{a}-{b}-{c}",
            f"+1 ({a}) {b}-{c}",
            f"1-{a}-{b}-{c}",
            f"+1{a}{b}{c}",
            f"({a}){b}-{c}",
        ],
        weights=[14, 14, 5, 4, 6, 3, 4, 3, 2, 2],
    )[0]
    return form, "PHONE"


def us_phone_ext(rng: Rng) -> tuple[str, str | None]:
    base, kind = us_phone(rng)
    ext = str(rng.randint(10, 9999))
    return base + rng.choice([f" ext. {ext}", f" ext {ext}", f" x{ext}", f" x {ext}"]), kind


def us_phone_bare(rng: Rng) -> tuple[str, str | None]:
    a, b, c = nanp_parts(rng)
    return a + b + c, "PHONE"


def us_tollfree(rng: Rng) -> tuple[str, str | None]:
    head = rng.choice(["800", "888", "877", "866"])
    c = f"01{rng.randint(0, 99):02d}"
    return rng.choice([f"1-{head}-555-{c}", f"{head}-555-{c}", f"1 ({head}) 555-{c}"]), "PHONE"


def intl_phone(rng: Rng) -> tuple[str, str | None]:

    def d(n: int) -> str:
        return digits(rng, n)

    forms = [
        f"+44 20 7946 0{d(3)}",
        f"+44 7700 900{d(3)}",
        f"+44 161 496 0{d(3)}",
        f"+61 2 9374 {d(4)}",
        f"+61 412 {d(3)} {d(3)}",
        f"+65 6{d(3)} {d(4)}",
        f"+65 9{d(3)} {d(4)}",
        f"+852 2{d(3)} {d(4)}",
        f"+852 9{d(3)} {d(4)}",
        f"+853 66{d(2)} {d(4)}",
        f"+886 912 {d(3)} {d(3)}",
        f"+886-2-2{d(3)}-{d(4)}",
        f"+81 3-{d(4)}-{d(4)}",
        f"+81 90-{d(4)}-{d(4)}",
        f"+49 30 {d(6)}",
        f"+49 151 {d(8)}",
        f"+33 1 {d(2)} {d(2)} {d(2)} {d(2)}",
        f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}",
        f"+91 98{d(3)} {d(5)}",
        f"+60 12-{d(3)} {d(4)}",
        f"+971 50 {d(3)} {d(4)}",
        f"+82 10-{d(4)}-{d(4)}",
        f"+34 6{d(2)} {d(3)} {d(3)}",
        f"+353 87 {d(3)} {d(4)}",
        f"+64 21 {d(3)} {d(4)}",
        f"+1 604 555 01{d(2)}",
        f"+447700900{d(3)}",
    ]
    return rng.choice(forms), "PHONE"


def uk_mobile_local(rng: Rng) -> tuple[str, str | None]:
    n = f"07700 900{digits(rng, 3)}"
    return rng.choice([n, n.replace(" ", "")]), "PHONE"


REGIONS = [
    "110101",
    "110105",
    "110108",
    "120101",
    "130102",
    "140105",
    "150102",
    "210102",
    "220102",
    "230103",
    "310104",
    "310115",
    "320102",
    "320506",
    "330106",
    "330212",
    "340104",
    "350203",
    "360102",
    "370202",
    "410105",
    "420106",
    "430104",
    "440106",
    "440305",
    "440306",
    "450103",
    "460106",
    "500103",
    "510107",
    "520102",
    "530102",
    "540102",
    "610113",
    "620102",
    "630102",
    "640104",
    "650102",
]


def birth_date(rng: Rng, start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange((end - start).days))


def id18(rng: Rng, want_x: bool = False) -> str:
    while True:
        born = birth_date(rng, date(1948, 1, 1), date(2006, 12, 31))
        first17 = f"{rng.choice(REGIONS)}{born:%Y%m%d}{digits(rng, 3)}"
        check = id_check_char(first17)
        if check == "X" or not want_x:
            return first17 + check


def id_number(rng: Rng) -> tuple[str, str | None]:
    n = id18(rng, want_x=rng.random() < 0.18)
    style = rng.random()
    if n.endswith("X") and style < 0.3:
        return n[:-1] + "x", "ID_NUMBER"
    if style > 0.93:
        return f"{n[:6]} {n[6:14]} {n[14:]}", "ID_NUMBER"
    return n, "ID_NUMBER"


def id_number_x(rng: Rng) -> tuple[str, str | None]:
    return id18(rng, want_x=True), "ID_NUMBER"


def id_old15(rng: Rng) -> tuple[str, str | None]:
    born = birth_date(rng, date(1940, 1, 1), date(1984, 12, 31))
    return f"{rng.choice(REGIONS)}{born:%y%m%d}{digits(rng, 3)}", "ID_NUMBER"


CARD_PREFIXES = [
    ("622202", 19),
    ("622202", 16),
    ("621700", 19),
    ("622848", 19),
    ("621661", 19),
    ("622588", 16),
    ("621483", 16),
    ("622262", 19),
    ("623668", 19),
    ("625911", 16),
    ("4", 16),
    ("453201", 16),
    ("476134", 16),
    ("51", 16),
    ("53", 16),
    ("55", 16),
    ("2221", 16),
    ("2720", 16),
    ("34", 15),
    ("37", 15),
    ("3528", 16),
    ("3566", 16),
    ("6011", 16),
    ("65", 16),
]


def card_digits(rng: Rng) -> str:
    prefix, length = rng.choice(CARD_PREFIXES)
    body = prefix + digits(rng, length - len(prefix) - 1)
    return body + luhn_check_digit(body)


def group_card(rng: Rng, n: str) -> str:
    if len(n) == 15:
        return rng.choice([n, f"{n[:4]} {n[4:10]} {n[10:]}", f"{n[:4]}-{n[4:10]}-{n[10:]}"])
    fours = " ".join(n[i : i + 4] for i in range(0, len(n), 4))
    style = rng.choices(["bare", "space", "dash", "six"], weights=[45, 40, 10, 5])[0]
    if style == "space":
        return fours
    if style == "dash":
        return fours.replace(" ", "-")
    if style == "six" and len(n) == 19:
        return f"{n[:6]} {n[6:]}"
    return n


def bank_card(rng: Rng) -> tuple[str, str | None]:
    return group_card(rng, card_digits(rng)), "BANK_CARD"


# ---------------------------------------------------------------------------------------------
# Near-misses


def bad_id18(rng: Rng) -> tuple[str, str | None]:
    n = id18(rng)
    wrong = rng.choice([c for c in ID_CHECK if c != n[-1]])
    return n[:-1] + wrong, None


def bad_card(rng: Rng) -> tuple[str, str | None]:
    n = card_digits(rng)
    while len(n) != 16:
        n = card_digits(rng)
    n = n[:-1] + str((int(n[-1]) + rng.randint(1, 9)) % 10)
    assert not luhn_ok(n)
    return group_card(rng, n), None


def random_long(rng: Rng, n: int) -> str:
    return rng.choice("123456789") + digits(rng, n - 1)


def date_str(rng: Rng) -> date:
    return birth_date(rng, date(2023, 1, 1), date(2024, 12, 31))


def order_zh(rng: Rng) -> tuple[str, str | None]:
    day = date_str(rng)
    forms = [
        f"{day:%Y%m%d}{digits(rng, 10)}",
        f"{day:%Y%m%d}{digits(rng, 12)}",
        random_long(rng, 19),
        random_long(rng, 18),
        random_long(rng, 12),
        f"{day:%y%m%d}-{digits(rng, 15)}",
        f"DD{day:%Y%m%d}{digits(rng, 6)}",
        f"E{day:%Y%m%d}{digits(rng, 9)}",
    ]
    return rng.choice(forms), None


def order_en(rng: Rng) -> tuple[str, str | None]:
    day = date_str(rng)
    forms = [
        f"#{digits(rng, 3)}-{digits(rng, 7)}-{digits(rng, 7)}",
        f"ORD-{day:%Y%m%d}-{digits(rng, 4)}",
        f"#{random_long(rng, 10)}",
        f"{random_long(rng, 9)}",
        f"#W{digits(rng, 9)}",
        f"SO-{digits(rng, 5)}",
        f"#{random_long(rng, 6)}",
        f"{random_long(rng, 16)}",
    ]
    return rng.choice(forms), None


def tracking(rng: Rng) -> tuple[str, str | None]:
    forms = [
        f"SF{digits(rng, 13)}",
        f"YT{digits(rng, 13)}",
        f"JT{digits(rng, 13)}",
        f"JDVA{digits(rng, 11)}",
        f"7{digits(rng, 13)}",
        f"4{digits(rng, 12)}",
        f"1Z{rng.choice(['999AA1', '4E5F61', 'A12B34'])}{digits(rng, 10)}",
        "9400 " + " ".join(digits(rng, 4) for _ in range(4)) + f" {digits(rng, 2)}",
        f"{random_long(rng, 12)}",
        f"LX{digits(rng, 9)}CN",
        f"EA{digits(rng, 9)}CN",
    ]
    return rng.choice(forms), None


def amount_zh(rng: Rng) -> tuple[str, str | None]:
    yuan = rng.choice([rng.randint(1, 99), rng.randint(100, 999), rng.randint(1000, 99999)])
    forms = [
        f"¥{yuan:,}.{rng.randint(0, 99):02d}",
        f"￥{yuan}",
        f"{yuan}元",
        f"{yuan:,}.00元",
        f"{yuan}块",
        f"人民币{yuan:,}元",
        f"-¥{yuan}.00",
    ]
    return rng.choice(forms), None


def amount_en(rng: Rng) -> tuple[str, str | None]:
    whole = rng.choice([rng.randint(1, 99), rng.randint(100, 999), rng.randint(1000, 250000)])
    cents = rng.randint(0, 99)
    forms = [
        f"${whole:,}.{cents:02d}",
        f"${whole}",
        f"USD {whole:,}.{cents:02d}",
        f"£{whole}.{cents:02d}",
        f"€{whole:,}",
        f"{whole:,} dollars",
        f"-${whole}.{cents:02d}",
    ]
    return rng.choice(forms), None


def amount_int(rng: Rng) -> tuple[str, str | None]:
    return str(rng.choice([50, 99, 100, 199, 200, 300, 500, 1000])), None


def datetime_zh(rng: Rng) -> tuple[str, str | None]:
    d = date_str(rng)
    hh, mm, ss = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    forms = [
        f"{d:%Y-%m-%d} {hh:02d}:{mm:02d}",
        f"{d.year}/{d.month}/{d.day}",
        f"{d:%Y%m%d}",
        f"{d.year}年{d.month}月{d.day}日",
        f"{d.month}月{d.day}日 {hh}:{mm:02d}",
        f"{d:%Y-%m-%d} {hh:02d}:{mm:02d}:{ss:02d}",
        f"{d:%Y.%m.%d}",
        f"{d:%Y-%m-%d}T{hh:02d}:{mm:02d}:00+08:00",
        f"{d.year}年{d.month}月{d.day}日{hh}点",
    ]
    return rng.choice(forms), None


def date_zh(rng: Rng) -> tuple[str, str | None]:
    d = date_str(rng)
    forms = [
        f"{d:%Y-%m-%d}",
        f"{d.month}月{d.day}日",
        f"{d.year}年{d.month}月{d.day}日",
        f"{d:%Y/%m/%d}",
        f"{d:%m-%d}",
    ]
    return rng.choice(forms), None


def date_en(rng: Rng) -> tuple[str, str | None]:
    d = date_str(rng)
    forms = [
        f"{d:%Y-%m-%d}",
        f"{d:%B} {d.day}, {d.year}",
        f"{d:%d %b %Y}",
        f"{d:%m/%d/%Y}",
        f"{d:%d/%m/%Y}",
        f"{d:%b} {d.day}",
        f"{d:%Y%m%d}",
        f"{d:%Y-%m-%d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
    ]
    return rng.choice(forms), None


def time_en(rng: Rng) -> tuple[str, str | None]:
    h, m = rng.randint(1, 12), rng.randint(0, 59)
    return rng.choice(
        [f"{h}:{m:02d} pm", f"{h}:{m:02d}am", f"{h + 8:02d}:{m:02d}", f"{h} PM"]
    ), None


def time_zh(rng: Rng) -> tuple[str, str | None]:
    h, m = rng.randint(0, 23), rng.randint(0, 59)
    return rng.choice(
        [f"{h:02d}:{m:02d}", f"{h}点{m}分", f"{h}:{m:02d}:{rng.randint(0, 59):02d}"]
    ), None


def unix_ts(rng: Rng) -> tuple[str, str | None]:
    return str(rng.randint(1_672_531_200, 1_735_603_200)), None


def version(rng: Rng) -> tuple[str, str | None]:
    a, b, c = rng.randint(1, 12), rng.randint(0, 20), rng.randint(0, 30)
    return rng.choice(
        [f"v{a}.{b}.{c}", f"{a}.{b}.{c}", f"V{a}.{b}", f"{a}.{b}.{c}.{rng.randint(100, 9999)}"]
    ), None


def os_version(rng: Rng) -> tuple[str, str | None]:
    return rng.choice(
        [
            f"{rng.randint(14, 18)}.{rng.randint(0, 6)}.{rng.randint(1, 3)}",
            f"{rng.randint(14, 18)}.{rng.randint(0, 6)}",
            str(rng.randint(10, 15)),
            f"HarmonyOS {rng.randint(2, 4)}.0.0.{rng.randint(100, 200)}",
        ]
    ), None


def build_no(rng: Rng) -> tuple[str, str | None]:
    d = date_str(rng)
    return rng.choice(
        [
            f"{rng.randint(100000, 999999)}",
            f"{d:%Y%m%d}.{rng.randint(1000, 9999)}",
            f"{d:%Y%m%d}{rng.randint(10, 99)}",
            f"B{rng.randint(1000, 99999)}",
            f"{version(rng)[0].lstrip('vV')}({rng.randint(1000, 99999)})",
        ]
    ), None


def txn_zh(rng: Rng) -> tuple[str, str | None]:
    d = date_str(rng)
    return rng.choice(
        [
            f"{d:%Y%m%d}2200{digits(rng, 20)}",
            f"4200{digits(rng, 6)}{d:%Y%m%d}{digits(rng, 10)}",
            f"{d:%Y%m%d}{digits(rng, 14)}",
            f"T{d:%Y%m%d}{digits(rng, 10)}",
            f"{random_long(rng, 26)}",
        ]
    ), None


def txn_en(rng: Rng) -> tuple[str, str | None]:
    hexs = "".join(rng.choice("0123456789ABCDEF") for _ in range(8))
    alnum = "".join(
        rng.choice("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(14)
    )
    return rng.choice(
        [
            f"TXN-{hexs}",
            f"pi_3{alnum}",
            f"{random_long(rng, 24)}",
            f"{hexs[:4]}-{hexs[4:]}-{digits(rng, 4)}",
            f"#{digits(rng, 12)}",
            f"{random_long(rng, 20)}",
            f"RRN {digits(rng, 12)}",
        ]
    ), None


def octet(rng: Rng) -> int:
    return rng.randint(0, 255)


def ip_addr(rng: Rng) -> tuple[str, str | None]:
    return rng.choice(
        [
            f"192.168.{rng.randint(0, 5)}.{rng.randint(2, 254)}",
            f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            f"{rng.randint(36, 223)}.{octet(rng)}.{octet(rng)}.{rng.randint(1, 254)}",
            f"2001:db8::{rng.randint(1, 9999)}",
            f"172.{rng.randint(16, 31)}.{octet(rng)}.{octet(rng)}:{rng.randint(1024, 65535)}",
        ]
    ), None


def otp(rng: Rng) -> tuple[str, str | None]:
    return rng.choice([digits(rng, 6), digits(rng, 6), digits(rng, 4), digits(rng, 8)]), None


def year(rng: Rng) -> tuple[str, str | None]:
    return str(rng.randint(2012, 2024)), None


def postal_zh(rng: Rng) -> tuple[str, str | None]:
    return rng.choice(
        [
            "100080",
            "100020",
            "200030",
            "518057",
            "310012",
            "610041",
            "430070",
            "510630",
            "215000",
            "300192",
        ]
    ), None


def postal_en(rng: Rng) -> tuple[str, str | None]:
    return rng.choice(
        [
            "94105",
            "10001",
            "60611",
            "02139",
            "98101-1234",
            "SW1A 1AA",
            "M5V 2T6",
            "EC1A 1BB",
            "90210",
            "73301",
        ]
    ), None


def masked_mobile(rng: Rng) -> tuple[str, str | None]:
    n = cn_mobile_number(rng)
    return rng.choice([f"{n[:3]}****{n[7:]}", f"{n[:3]}****{n[7:]}", f"{n[:3]}*****{n[8:]}"]), None


def masked_card(rng: Rng) -> tuple[str, str | None]:
    n = card_digits(rng)
    return rng.choice(
        [f"{n[:4]} **** **** {n[-4:]}", f"{n[:6]}******{n[-4:]}", f"**** {n[-4:]}", f"****{n[-4:]}"]
    ), None


def last4(rng: Rng) -> tuple[str, str | None]:
    return digits(rng, 4), None


def short_hotline(rng: Rng) -> tuple[str, str | None]:
    return rng.choice(
        ["95588", "95555", "95533", "10086", "10010", "12315", "95017", "96110"]
    ), None


def imei(rng: Rng) -> tuple[str, str | None]:
    body = rng.choice(["35", "86", "35", "01"]) + digits(rng, 12)
    return body + luhn_check_digit(body), None


def small(rng: Rng) -> tuple[str, str | None]:
    return str(rng.randint(2, 30)), None


def minutes(rng: Rng) -> tuple[str, str | None]:
    return str(rng.choice([5, 10, 15, 20, 30, 40, 45, 60, 90])), None


def points(rng: Rng) -> tuple[str, str | None]:
    return rng.choice(
        [str(rng.randint(100, 99999)), f"{rng.randint(1, 99)},{rng.randint(0, 999):03d}"]
    ), None


def ticket_no(rng: Rng) -> tuple[str, str | None]:
    d = date_str(rng)
    return rng.choice(
        [
            f"#{rng.randint(10000, 999999)}",
            f"GD{d:%Y%m%d}{digits(rng, 4)}",
            f"{d:%Y%m%d}{digits(rng, 6)}",
            f"CS-{digits(rng, 7)}",
            f"INC{digits(rng, 7)}",
        ]
    ), None


def refund_no(rng: Rng) -> tuple[str, str | None]:
    d = date_str(rng)
    return rng.choice(
        [
            f"R-{d:%Y%m%d}-{digits(rng, 4)}",
            f"TK{d:%Y%m%d}{digits(rng, 8)}",
            f"{d:%Y%m%d}{digits(rng, 11)}",
            f"RF{digits(rng, 10)}",
            f"#{random_long(rng, 9)}",
        ]
    ), None


def member_no(rng: Rng) -> tuple[str, str | None]:
    return rng.choice(
        [random_long(rng, 8), random_long(rng, 10), f"VIP{digits(rng, 8)}", random_long(rng, 9)]
    ), None


def err_code(rng: Rng) -> tuple[str, str | None]:
    return rng.choice(
        [
            f"E{rng.randint(1000, 9999)}",
            str(rng.randint(10000, 99999)),
            f"ERR_{rng.randint(100, 999)}",
            f"0x{rng.randint(0, 0xFFFF):04X}",
            str(rng.randint(400, 504)),
            f"PAY-{rng.randint(100, 999)}",
        ]
    ), None


def coupon(rng: Rng) -> tuple[str, str | None]:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return rng.choice(
        [
            "".join(rng.choice(letters) for _ in range(10)),
            f"SPRING{rng.randint(10, 50)}",
            f"{digits(rng, 4)}-{digits(rng, 4)}-{digits(rng, 4)}",
            f"NEW{rng.randint(100, 999)}",
        ]
    ), None


def invoice_no(rng: Rng) -> tuple[str, str | None]:
    return rng.choice(
        [
            digits(rng, 8),
            f"0{digits(rng, 11)}",
            f"INV-{date_str(rng):%Y}-{digits(rng, 5)}",
            digits(rng, 20),
        ]
    ), None


def tax_id(rng: Rng) -> tuple[str, str | None]:
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    return "91" + digits(rng, 6) + "".join(rng.choice(chars) for _ in range(10)), None


def sku(rng: Rng) -> tuple[str, str | None]:
    return rng.choice(
        [
            f"{rng.choice(['A', 'XM', 'HW'])}{rng.randint(1000, 9999)}",
            f"{digits(rng, 13)}",
            f"SKU-{digits(rng, 6)}",
            f"{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
        ]
    ), None


def barcode(rng: Rng) -> tuple[str, str | None]:
    """EAN-13 product barcodes; Chinese goods start with 69, which is also a card-like prefix."""
    body = rng.choice(["69", "69", "690", "45", "40", "00"])
    body += digits(rng, 12 - len(body))
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10) % 10
    return body + str(check), None


def invoice_code(rng: Rng) -> tuple[str, str | None]:
    """Chinese VAT invoice codes: 10 or 12 digits, the 12-digit ones starting with 0."""
    return rng.choice([f"0{digits(rng, 11)}", f"{rng.randint(11, 65)}00{digits(rng, 6)}"]), None


def agent_no(rng: Rng) -> tuple[str, str | None]:
    return rng.choice([str(rng.randint(1000, 99999)), f"KF{rng.randint(100, 9999)}"]), None


def uid(rng: Rng) -> tuple[str, str | None]:
    return rng.choice(
        [random_long(rng, 8), random_long(rng, 9), random_long(rng, 10), f"u_{digits(rng, 7)}"]
    ), None


def policy_no(rng: Rng) -> tuple[str, str | None]:
    return rng.choice(
        [bad_id18(rng)[0], random_long(rng, 18), f"P{digits(rng, 17)}", random_long(rng, 18)]
    ), None


def card_count(rng: Rng) -> tuple[str, str | None]:
    return str(rng.randint(2, 5)), None


def percent(rng: Rng) -> tuple[str, str | None]:
    return rng.choice(
        [
            f"{rng.randint(1, 99)}%",
            f"{rng.randint(1, 9)}.{rng.randint(1, 9)}%",
            f"{rng.randint(1, 5)}折",
        ]
    ), None


def rating(rng: Rng) -> tuple[str, str | None]:
    return rng.choice(
        [
            f"{rng.randint(1, 4)}.{rng.randint(0, 9)}",
            f"{rng.randint(1, 5)}/5",
            f"{rng.randint(1, 5)} stars",
        ]
    ), None


def long_digits_misc(rng: Rng) -> tuple[str, str | None]:
    """Long bare numbers of other kinds: 16 digits that fail Luhn, 18 that fail GB 11643."""
    while True:
        n = random_long(rng, rng.choice([16, 18]))
        if len(n) == 16 and not luhn_ok(n):
            return n, None
        if len(n) == 18 and id_check_char(n[:17]) != n[17]:
            return n, None


def month_en(rng: Rng) -> tuple[str, str | None]:
    d = date_str(rng)
    return rng.choice([f"{d:%B %Y}", f"{d:%b %Y}", f"{d:%m/%Y}"]), None


CITIES_ZH = ["北京", "上海", "深圳", "杭州", "成都", "武汉", "广州", "南京", "西安", "苏州"]
CITIES_EN = ["Seattle", "Austin", "Toronto", "London", "Sydney", "Singapore", "Chicago", "Denver"]


def city_zh(rng: Rng) -> tuple[str, str | None]:
    return rng.choice(CITIES_ZH), None


def city_en(rng: Rng) -> tuple[str, str | None]:
    return rng.choice(CITIES_EN), None


def any_phone_zh(rng: Rng) -> tuple[str, str | None]:
    return rng.choices([cn_mobile, cn_landline, cn_hotline, intl_phone], weights=[6, 3, 1, 1])[0](
        rng
    )


def any_phone_en(rng: Rng) -> tuple[str, str | None]:
    return rng.choices(
        [us_phone, intl_phone, us_tollfree, uk_mobile_local, cn_mobile], weights=[7, 4, 1, 1, 1]
    )[0](rng)


SLOTS: dict[str, Slot] = {
    "EMAIL": email,
    "MOBILE": cn_mobile,
    "LANDLINE": cn_landline,
    "HOTLINE": cn_hotline,
    "PHONE_ZH": any_phone_zh,
    "PHONE_EN": any_phone_en,
    "US_PHONE": us_phone,
    "US_PHONE_EXT": us_phone_ext,
    "US_BARE": us_phone_bare,
    "TOLLFREE": us_tollfree,
    "INTL": intl_phone,
    "UK_MOBILE": uk_mobile_local,
    "ID": id_number,
    "ID_X": id_number_x,
    "ID15": id_old15,
    "CARD": bank_card,
    "BAD_ID": bad_id18,
    "BAD_CARD": bad_card,
    "ORDER_ZH": order_zh,
    "ORDER_EN": order_en,
    "TRACKING": tracking,
    "AMOUNT_ZH": amount_zh,
    "AMOUNT_EN": amount_en,
    "AMOUNT_INT": amount_int,
    "DATETIME": datetime_zh,
    "DATE_ZH": date_zh,
    "DATE_EN": date_en,
    "TIME_EN": time_en,
    "TIME_ZH": time_zh,
    "UNIX": unix_ts,
    "VERSION": version,
    "OS_VER": os_version,
    "BUILD": build_no,
    "TXN_ZH": txn_zh,
    "TXN_EN": txn_en,
    "IP": ip_addr,
    "OTP": otp,
    "YEAR": year,
    "POSTAL_ZH": postal_zh,
    "POSTAL_EN": postal_en,
    "MASKED_MOBILE": masked_mobile,
    "MASKED_CARD": masked_card,
    "LAST4": last4,
    "SHORT_HOTLINE": short_hotline,
    "IMEI": imei,
    "N": small,
    "MINUTES": minutes,
    "POINTS": points,
    "TICKET": ticket_no,
    "REFUND": refund_no,
    "MEMBER": member_no,
    "ERR": err_code,
    "COUPON": coupon,
    "INVOICE": invoice_no,
    "TAXID": tax_id,
    "SKU": sku,
    "AGENT_NO": agent_no,
    "UID": uid,
    "POLICY": policy_no,
    "COUNT": card_count,
    "PERCENT": percent,
    "RATING": rating,
    "LONG": long_digits_misc,
    "MONTH": month_en,
    "BARCODE": barcode,
    "INVOICE_CODE": invoice_code,
    "CITY_ZH": city_zh,
    "CITY_EN": city_en,
}

# ---------------------------------------------------------------------------------------------
# Sentences. Entity templates carry at least one personal item; near-miss templates carry none.

ZH_ENTITY = [
    "您好，我的账户被冻结了，绑定手机号是{MOBILE}，麻烦尽快帮我解冻。",
    "提现到尾号{LAST4}的银行卡一直显示处理中，完整卡号是{CARD}，已经{N}天了。",
    "实名认证一直失败，身份证号{ID}，姓名和证件都是对的，为什么过不了？",
    "订单号{ORDER_ZH}还没发货，请联系我{MOBILE}，谢谢。",
    "退款请退到这张卡：{CARD}，开户行是招商银行。",
    "邮箱是{EMAIL}谢谢，发票请发到这个邮箱。",
    "我换手机号了，新号码{MOBILE}，旧号码{MOBILE}已经停用，怎么改绑定？",
    "快递一直没送到，运单号{TRACKING}，收件电话{MOBILE}。",
    "公司座机{LANDLINE}，工作日九点到六点都可以打。",
    "你们客服热线{HOTLINE}一直打不通，等了{MINUTES}分钟。",
    "我在{DATE_ZH}支付了{AMOUNT_ZH}，银行卡{CARD}已经扣款，但是订单显示未支付。",
    "身份证{ID}，手机{MOBILE}，麻烦帮我查一下为什么借款额度是0。",
    "绑卡的时候提示卡号错误，我的卡号是{CARD}，是储蓄卡。",
    "我的老身份证号是{ID15}，升级成新证以后认证就不通过了。",
    "请把电子发票发到{EMAIL}，抬头写个人就行。",
    "联系人：张女士，电话{PHONE_ZH}，地址北京市朝阳区建国路{N}号，邮编{POSTAL_ZH}。",
    "我在国外，手机号是{INTL}，一直收不到验证码怎么办？",
    "信用卡{CARD}被盗刷了{AMOUNT_ZH}，交易时间{DATETIME}，请帮我冻结。",
    "我的账号注册邮箱是{EMAIL}，手机号{MOBILE}，现在两个都登录不上。",
    "请回电{LANDLINE}找李先生。",
    "在{VERSION}版本里绑卡页面闪退，卡号{CARD}输入一半就退出了。",
    "客户经理让我把身份证号{ID}和银行卡号{CARD}发过来，这样安全吗？",
    "退款到账了吗？退款单号{REFUND}，我的支付宝手机号{MOBILE}。",
    "发货地址填错了，收货电话改成{MOBILE}，订单{ORDER_ZH}。",
    "我父亲的身份证号码：{ID}，帮他开通了钱包但是认证失败。",
    "麻烦加我微信，微信号就是手机号{MOBILE}。",
    "我的邮箱{EMAIL}，一直收不到对账单。",
    "境外手机号{INTL}能注册吗？",
    "联系电话：{LANDLINE}或者{MOBILE}。",
    "有人用{PHONE_ZH}给我打电话说我的账户有风险，是你们的号码吗？",
    "提示证件号码格式不正确，我输入的是{ID_X}，最后一位是X。",
    "我用的是{CARD}这张信用卡，额度还有{AMOUNT_ZH}，但是支付失败。",
    "我的账户绑定了邮箱{EMAIL}，想换成{EMAIL}，怎么操作？",
    "早上{TIME_ZH}接到{MOBILE}的电话，说是客服，让我转账，是诈骗吧？",
    "证件号{ID}已经被别人注册了，我从来没用过你们的APP。",
    "售后电话{HOTLINE}转人工要等很久，能不能留个邮箱，我的是{EMAIL}。",
    "我在国外，电话{INTL}，信用卡{CARD}，海淘订单{ORDER_ZH}被取消了。",
    "麻烦把合同发我邮箱：{EMAIL}。",
    "银行卡号{CARD}，户名王芳，开户行工商银行北京分行。",
    "短信发到尾号{LAST4}的手机上了，我现在用的号码是{MOBILE}。",
    "请联系我的同事，电话{MOBILE}，邮箱{EMAIL}。",
    "话费充值到{MOBILE}没到账，扣了{AMOUNT_ZH}。",
    "快递员打的{MOBILE}不是我的号码，我的号码是{MOBILE}。",
    "代扣协议绑定的卡是{CARD}，我想解绑。",
    "{LANDLINE}是你们公司的电话吗？一直打给我推销贷款。",
    "请拨打{MOBILE}联系我，白天不方便接的话发短信。",
    "我是商户，对公账户联系人电话{LANDLINE}，邮箱{EMAIL}，结算卡{CARD}。",
    "孩子用我的身份证{ID}注册了账号，能注销吗？",
    "家里老人身份证{ID}，手机{MOBILE}，被人骗着开了免密支付。",
    "积分{POINTS}兑换的话费要充到{MOBILE}，不是账户绑定的号码。",
    "我{DATETIME}在{CITY_ZH}用卡号{CARD}消费了一笔，但是APP里没记录。",
    "请问{EMAIL}这个邮箱是你们官方的吗？收到一封让我更新银行卡的邮件。",
    "为了开发票，单位地址和电话：上海市徐汇区漕溪北路{N}号 {LANDLINE}。",
    "我的身份证是{ID}，银行预留手机号是{MOBILE}，绑卡一直提示信息不一致。",
    "我已经发邮件到{EMAIL}了，三天没人回复。",
    "我在海外的手机{INTL}收不到短信验证码{OTP}。",
]

EN_ENTITY = [
    "Hi, my account got locked after I changed phones. The number on file is {US_PHONE}.",
    "Please refund to my card {CARD}, the charge was {AMOUNT_EN} on {DATE_EN}.",
    "You can reach me at {EMAIL} or {US_PHONE} any time after 5pm.",
    "I was charged twice on my Visa {CARD} for order {ORDER_EN}.",
    "My email is {EMAIL}, please send the receipt there.",
    "Call me back on {INTL}, I'm travelling this week.",
    "The delivery driver called from {US_PHONE} but never showed up. Tracking {TRACKING}.",
    "Support told me to call {TOLLFREE} but it just rings.",
    "I updated my phone number to {INTL} but the app still sends codes to the old one.",
    "Identity verification keeps failing. My Chinese ID number is {ID} and my name is Li Wei.",
    "Card number {CARD} was declined even though I have plenty of balance.",
    "Can someone email me at {EMAIL}? Your chat keeps disconnecting.",
    "Someone used my card {CARD} to buy gift cards worth {AMOUNT_EN}. Please block it!",
    "My wife's number {US_PHONE} is the backup contact, can you add it?",
    "Reach our office at {US_PHONE_EXT} and ask for accounts payable.",
    "The OTP goes to {INTL} which I no longer have. New number: {PHONE_EN}.",
    "I registered with {EMAIL} back in {YEAR} and now it says the email doesn't exist.",
    "Got a scam text from {PHONE_EN} pretending to be your fraud team.",
    "Resident ID {ID} shows as already registered, but I never signed up.",
    "Please update my billing email from {EMAIL} to {EMAIL}.",
    "The form says my Amex {CARD} is not supported. Why not?",
    "Text me at {US_PHONE} when the replacement ships.",
    "Our Singapore team can be reached on {INTL}.",
    "My debit card ending {LAST4} was replaced, the new card is {CARD}.",
    "I'm locked out; my login is {EMAIL} and the phone is {MOBILE}.",
    "Please call {US_PHONE} regarding claim {TICKET}.",
    "For the refund use card {CARD} (expires 08/27).",
    "My old ID card number {ID15} is not accepted by the app.",
    "Hi team, contact: Mark Evans, {EMAIL}, mobile {PHONE_EN}.",
    "I paid {AMOUNT_EN} with card {CARD} at {TIME_EN} and the money left my account twice.",
    "Your rep gave me {US_PHONE} as a direct line but it's disconnected.",
    "Why does your app need my passport? I already gave my ID {ID}.",
    "The seller's phone is {INTL} and they won't answer.",
    "Send the tax form to {EMAIL} please.",
    "My number changed from {US_PHONE} to {US_PHONE}, please update it.",
    "You can reach me on {UK_MOBILE}, that's my UK mobile.",
    "Please don't call {PHONE_EN} again, remove me from the list.",
    "Auto-pay is linked to card {CARD}; cancel it before {DATE_EN}.",
    "Call my cell {US_BARE} after 6.",
    "Billing contact is {EMAIL} and the card on file is {CARD}.",
    "I never authorised the {AMOUNT_EN} payment to {EMAIL}.",
    "The confirmation went to {EMAIL} instead of my work address.",
    "Merchant support line {US_PHONE} hung up on me twice.",
    "My Chinese resident ID is {ID_X}, it ends with X and your form only accepts digits.",
    "Wallet top-up from card {CARD} failed with error {ERR} on {DATE_EN}.",
    "I'm at {INTL} until Friday, or email {EMAIL}.",
    "Please verify me, ID {ID}, phone {MOBILE}, email {EMAIL}.",
    "A guy from {PHONE_EN} claimed to be from your company and asked for my PIN.",
    "Hey, the number {US_PHONE} is listed on my account but it isn't mine.",
    "Refund the {AMOUNT_EN} to {CARD} not to my wallet balance.",
    "I used {EMAIL} for the Apple Pay setup and card {CARD}.",
    "Our accounts team: {US_PHONE_EXT} or {EMAIL}.",
]

ZH_NEAR = [
    "订单号{ORDER_ZH}已经{N}天了还没发货。",
    "{DATETIME}下单，付了{AMOUNT_ZH}，到现在还没有物流信息，运单号{TRACKING}。",
    "APP更新到{VERSION}以后打不开了，系统版本{OS_VER}。",
    "验证码{OTP}输入后提示已过期，我{N}秒内就输入了。",
    "交易流水号{TXN_ZH}，扣款{AMOUNT_ZH}但是余额没增加。",
    "申请编号{BAD_ID}的贷款申请审核了{N}天了。",
    "兑换码{BAD_CARD}提示无效，是不是过期了？",
    "我输入卡号{BAD_CARD}一直提示卡号有误，检查了好几遍。",
    "登录提示IP {IP} 异常，我人就在{CITY_ZH}。",
    "收货地址邮编{POSTAL_ZH}，是不是填错了导致退回？",
    "{YEAR}年就注册了，老用户了，积分{POINTS}怎么清零了？",
    "手机{MASKED_MOBILE}收不到短信验证码。",
    "银行卡{MASKED_CARD}自动扣了{AMOUNT_ZH}，我没有授权过。",
    "打了{SHORT_HOTLINE}问银行，银行说钱已经转出了。",
    "退款单号{REFUND}显示退款成功，但钱没到账。",
    "工单号{TICKET}处理了一周没有结果。",
    "保单号{POLICY}的保险怎么取消？",
    "构建号{BUILD}的测试版有bug，转账页面卡住。",
    "{DATE_ZH}和{DATE_ZH}各扣了一次{AMOUNT_ZH}，重复扣款。",
    "手机IMEI {IMEI}，换了手机之后钱包登录要重新认证。",
    "优惠券{COUPON}满{AMOUNT_INT}减{N}不能用。",
    "第{N}期账单{AMOUNT_ZH}，{DATE_ZH}到期，可以延期吗？",
    "会员号{MEMBER}的积分查不到。",
    "订单{ORDER_ZH}和订单{ORDER_ZH}合并发货了吗？",
    "错误码{ERR}，支付失败，请问是什么原因？",
    "余额显示{AMOUNT_ZH}，可是我明明充了{AMOUNT_ZH}。",
    "时间是{DATETIME}，在{CITY_ZH}的门店刷的卡。",
    "快递单号{TRACKING}显示已签收，但我没收到。",
    "版本{VERSION}（{BUILD}）在iOS {OS_VER}上扫码闪退。",
    "发票号码{INVOICE}开错了，税号是{TAXID}。",
    "充值{AMOUNT_INT}送{N}元的活动{DATE_ZH}截止吗？",
    "提现申请{TXN_ZH}被拒绝，理由是风控。",
    "上次联系的工单是{TICKET}，客服工号{AGENT_NO}。",
    "我买的是{SKU}这个型号，价格{AMOUNT_ZH}，现在降价了能退差价吗？",
    "物流显示{DATE_ZH} {TIME_ZH}到达{CITY_ZH}分拨中心，{N}天没动了。",
    "用户ID {UID}，昨天的签到奖励没发。",
    "打折{PERCENT}的商品结算时还是原价{AMOUNT_ZH}。",
    "评分只有{RATING}，你们的客服太慢了。",
    "我有{COUNT}张卡，只有尾号{LAST4}的那张能用。",
    "流水号{LONG}这笔是什么扣款？",
    "订单编号：{LONG}，申请了退货还没审核。",
    "系统日志里时间戳是{UNIX}，那时候我正在付款。",
    "我的卡{MASKED_CARD}和手机{MASKED_MOBILE}都是对的，为什么绑定不上？",
    "顺丰{TRACKING}已经{N}天没更新了。",
    "{YEAR}年的账单能导出吗？要{DATE_ZH}到{DATE_ZH}的。",
    "串号{IMEI}的手机被偷了，钱包要不要冻结？",
    "参考号{TXN_ZH}的转账对方说没收到。",
    "退货地址的邮编是{POSTAL_ZH}吗？我寄到了{CITY_ZH}。",
    "商品条码{BARCODE}扫出来的价格和标签上的{AMOUNT_ZH}不一样。",
    "发票代码{INVOICE_CODE}，发票号码{INVOICE}，金额开成了{AMOUNT_ZH}。",
    "我买的{BARCODE}这款奶粉生产日期是{DATE_ZH}，快过期了。",
]

EN_NEAR = [
    "Order {ORDER_EN} still hasn't shipped after {N} days.",
    "I paid {AMOUNT_EN} on {DATE_EN} and the app shows nothing.",
    "After updating to {VERSION} the app crashes on launch (build {BUILD}).",
    "The verification code {OTP} expired before I could use it.",
    "Transaction {TXN_EN} is stuck as pending since {DATE_EN}.",
    "Tracking number {TRACKING} hasn't moved since {DATE_EN}.",
    "Login blocked from IP {IP}, that's my home network.",
    "Gift card code {BAD_CARD} says invalid.",
    "The card number field rejects {BAD_CARD}, what's wrong?",
    "My application reference is {BAD_ID}, any update?",
    "Ticket {TICKET} was closed without a reply.",
    "I've been a customer since {YEAR} and this is the worst update yet.",
    "ZIP code {POSTAL_EN} isn't accepted at checkout.",
    "Card ending in {LAST4} was charged {AMOUNT_EN} twice.",
    "Error {ERR} when adding money from my bank.",
    "Refund {REFUND} of {AMOUNT_EN} hasn't arrived.",
    "Invoice {INVOICE} shows the wrong tax amount.",
    "On iOS {OS_VER} the app is at {VERSION} but still shows the old layout.",
    "Device IMEI {IMEI} was flagged as suspicious, why?",
    "Cashback of {AMOUNT_EN} was promised by {DATE_EN}.",
    "Between {TIME_EN} and {TIME_EN} the app was completely down.",
    "Promo code {COUPON} doesn't work at checkout.",
    "The statement for {MONTH} shows {AMOUNT_EN} in fees I don't recognise.",
    "Texts go to my number ending {LAST4} but I never get them.",
    "The card {MASKED_CARD} on my profile is expired.",
    "I rated it {RATING} because support took {N} days.",
    "Why is there a {PERCENT} fee on a {AMOUNT_EN} transfer?",
    "User ID {UID} can't claim the referral bonus.",
    "Policy {POLICY} was renewed without asking me.",
    "The log shows timestamp {UNIX} for the failed payment.",
    "Agent {AGENT_NO} promised a callback on {DATE_EN} and nobody called.",
    "SKU {SKU} was listed at {AMOUNT_EN} but charged higher.",
    "Transfer ref {LONG} never reached the recipient.",
    "Order number {LONG} shows delivered but the box was empty.",
    "I ordered {COUNT} items on {DATE_EN}, order {ORDER_EN}, only one arrived.",
    "Version {VERSION} on Android {OS_VER} keeps logging me out.",
    "My points balance dropped from {POINTS} to zero on {DATE_EN}.",
    "Payment {TXN_EN} for {AMOUNT_EN} was reversed without notice.",
    "Parcel {TRACKING} went to {CITY_EN} instead of my address.",
    "Your status page said the outage ended at {TIME_EN} on {DATE_EN}.",
    "The {YEAR} annual statement is missing from the documents tab.",
    "Member {MEMBER} here, my tier dropped after the update to {VERSION}.",
    "Phone on file shows {MASKED_MOBILE}, which is correct, but no SMS arrives.",
    "The barcode {BARCODE} on the box doesn't match the item I ordered.",
    "Scanning {BARCODE} in the app says product not found.",
]

ZH_PLAIN = [
    "你们的APP太难用了，找个退款入口都找半天。",
    "客服态度很好，问题解决了，谢谢。",
    "为什么每次转账都要人脸识别？太麻烦了。",
    "希望能增加夜间模式，晚上用太刺眼了。",
    "物流太慢了，下次不在你们这买了。",
    "账单分类不准确，吃饭的钱被归到购物里了。",
    "能不能支持微信和支付宝之间直接转账？",
    "更新之后首页广告越来越多了。",
]

EN_PLAIN = [
    "The app is fine but the fees are way too high.",
    "Please add dark mode, the white screen is painful at night.",
    "Support was quick and friendly, thanks!",
    "Why do I need to verify my face for every transfer?",
    "Delivery was late again, this is the third time.",
    "The budgeting categories are wrong half the time.",
    "I love the new design, much easier to find things.",
    "Can you add a way to split bills with friends?",
]

# ---------------------------------------------------------------------------------------------
# Assembly

_SLOT = re.compile(r"\{([A-Z0-9_]+)\}")


def render(template: str, rng: Rng) -> tuple[str, list[dict[str, object]]]:
    """Fills a template slot by slot, recording each entity's span as the text grows."""
    parts = _SLOT.split(template)
    text, entities = "", []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            text += part
            continue
        surface, kind = SLOTS[part](rng)
        if kind is not None:
            entities.append({"kind": kind, "start": len(text), "end": len(text) + len(surface)})
        text += surface
    return text, entities


def build(seed: int = SEED) -> list[dict[str, object]]:
    rng = random.Random(seed)
    plan = [
        ("zh", ZH_ENTITY, 140),
        ("zh", ZH_NEAR, 115),
        ("zh", ZH_PLAIN, 12),
        ("en", EN_ENTITY, 140),
        ("en", EN_NEAR, 115),
        ("en", EN_PLAIN, 12),
    ]
    lines = []
    for lang, templates, count in plan:
        order = [templates[i % len(templates)] for i in range(count)]
        rng.shuffle(order)
        for template in order:
            text, entities = render(template, rng)
            lines.append({"text": text, "entities": entities, "lang": lang})
    rng.shuffle(lines)
    return lines


def check(lines: list[dict[str, object]]) -> None:
    """The set's own promises: spans, checksums and the mix the tests rely on."""
    entity_count = 0
    for line in lines:
        text = str(line["text"])
        for ent in line["entities"]:  # type: ignore[attr-defined]
            surface = text[ent["start"] : ent["end"]]
            entity_count += 1
            plain = re.sub(r"[ -]", "", surface)
            if ent["kind"] == "ID_NUMBER" and len(plain) == 18:
                assert id_check_char(plain[:17]) == plain[17].upper(), surface
            if ent["kind"] == "BANK_CARD":
                assert luhn_ok(plain), surface
    near_only = sum(
        1 for line in lines if not line["entities"] and any(c.isdigit() for c in str(line["text"]))
    )
    langs = [line["lang"] for line in lines]
    assert len(lines) >= 400 and entity_count >= 150 and near_only >= 150, (
        len(lines),
        entity_count,
        near_only,
    )
    assert abs(langs.count("zh") - langs.count("en")) <= len(lines) // 10


def write(lines: list[dict[str, object]], path: Path = OUT) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    built = build()
    check(built)
    write(built)
    print(f"wrote {len(built)} lines to {OUT}")
