"""Content tokens for labels: domain words whole, stopwords and noise out, mixed text sensible."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import jieba
import pytest
from spacy.lang.en.stop_words import STOP_WORDS as SPACY_EN
from spacy.lang.zh.stop_words import STOP_WORDS as SPACY_ZH

from voc.errors import ConfigError
from voc.normalize import normalize_for_analysis
from voc.segment import detect_lang
from voc.settings import CORPORA_DIR, VocSettings
from voc.tokenize import Tokenizer, read_user_dict, read_wordlist

# Words in spaCy's lists that are content in voc's domain; corpora/stopwords/README.md says why.
ZH_KEPT_FROM_SPACY = {
    "分期",
    "保险",
    "安全",
    "限制",
    "移动",
    "方便",
    "复杂",
    "清楚",
    "及时",
    "附近",
}
EN_KEPT_FROM_SPACY = {"amount", "call", "due", "empty", "full", "name", "top"}

FUNCTION_WORDS = {
    "的", "了", "很", "我", "是", "在", "也", "就", "吗", "呢", "吧", "和", "都", "这个", "那个",
    "the", "i", "a", "an", "is", "to", "and", "of", "my", "it", "was", "be", "for", "on", "me",
}  # fmt: skip


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> VocSettings:
    return VocSettings(data_dir=tmp_path_factory.mktemp("voc-data"))


@pytest.fixture(scope="module")
def tokenizer(settings: VocSettings) -> Tokenizer:
    return Tokenizer(settings)


@pytest.fixture(scope="module")
def default_jieba(settings: VocSettings) -> jieba.Tokenizer:
    """jieba as shipped, without voc's user dictionary, sharing the test's cache."""
    jieba.setLogLevel(logging.WARNING)
    plain = jieba.Tokenizer()
    plain.tmp_dir = str(settings.data_dir / "cache")
    plain.cache_file = "jieba.cache"
    return plain


DOMAIN_WORDS = [
    ("提现一直不到账", "到账"),
    ("退款什么时候到账", "到账"),
    ("花呗分期的手续费太高", "花呗"),
    ("借呗额度降了", "借呗"),
    ("实名认证通不过", "实名认证"),
    ("绑卡的时候验证码收不到", "绑卡"),
    ("会员自动续费怎么取消", "自动续费"),
    ("收款码被限制收款", "收款码"),
    ("刷脸支付一直失败", "刷脸"),
    ("余额宝转出到银行卡要多久", "余额宝"),
    ("零钱通收益怎么这么低", "零钱通"),
    ("芝麻分突然降了", "芝麻分"),
    ("免密支付怎么关闭", "免密支付"),
    ("换绑手机号收不到动态码", "换绑"),
    ("换绑手机号收不到动态码", "动态码"),
    ("买了运费险退货却没有赔付", "运费险"),
    ("仅退款申请被拒绝了", "仅退款"),
    ("人工客服排队太久", "人工客服"),
    ("新版本更新后白屏", "白屏"),
    ("钓鱼链接骗走了我的钱", "钓鱼链接"),
    ("网商贷提前还款有违约金吗", "提前还款"),
    ("小程序付款码打不开", "付款码"),
    ("账单日和还款日是哪天", "还款日"),
    ("临时额度到期了", "临时额度"),
    ("APP闪退了怎么办", "闪退"),
    ("异地登录被冻结了", "异地登录"),
]


@pytest.mark.parametrize(("sentence", "word"), DOMAIN_WORDS)
def test_domain_words_that_plain_jieba_splits_come_out_whole(
    tokenizer: Tokenizer, default_jieba: jieba.Tokenizer, sentence: str, word: str
) -> None:
    assert word not in default_jieba.lcut(sentence, HMM=False)
    assert word in tokenizer.tokens(sentence, "zh")


@pytest.mark.parametrize(
    ("text", "lang", "tokens"),
    [
        ("提现一直不到账", "zh", ["提现", "到账"]),
        ("人脸识别总是失败", "zh", ["人脸识别", "失败"]),
        ("APP闪退了怎么办", "zh", ["app", "闪退"]),
        ("我的花呗分期手续费太高了", "zh", ["花呗", "分期", "手续费", "高"]),
        ("您好，请问我的退款什么时候到账？谢谢", "zh", ["退款", "到账"]),
        ("我在iOS上用Apple Pay绑卡失败", "zh", ["ios", "apple", "pay", "绑卡", "失败"]),
        ("余额宝的钱转不出来 please help", "zh", ["余额宝", "钱", "转", "help"]),
        ("The 花呗 payment failed again", "en", ["花呗", "payment", "fail"]),
        ("My 余额宝withdrawal is stuck", "en", ["余额宝", "withdrawal", "stick"]),
        (
            "I was charged twice and the Payments page keeps crashing!!",
            "en",
            ["charge", "twice", "payment", "page", "crash"],
        ),
        ("Why can't I log in? It says my account is locked.", "en", ["log", "account", "lock"]),
        (
            "Hi, thanks for the quick reply. Please top up my card.",
            "en",
            ["quick", "reply", "top", "card"],
        ),
    ],
)
def test_tokens_are_content_words_in_order(
    tokenizer: Tokenizer, text: str, lang: str, tokens: list[str]
) -> None:
    assert tokenizer.tokens(text, lang) == tokens


def test_placeholders_urls_emails_numbers_and_single_letters_are_removed(
    tokenizer: Tokenizer,
) -> None:
    text = "Mail [EMAIL] or [PHONE], see https://x.com/a?b=1 or a.b@c.com: order 12345, 3.5 x v2"
    assert tokenizer.tokens(text, "en") == ["mail", "order", "v2"]
    text = "请联系我[PHONE]，订单号12345，版本5.2.1，邮箱a@b.com，网址www.example.com/help"
    assert tokenizer.tokens(text, "zh") == ["订单号", "版本", "邮箱", "网址"]


def test_function_words_never_survive(tokenizer: Tokenizer) -> None:
    path = Path(__file__).parent / "data" / "segment" / "tickets.jsonl"
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    items = [(norm, detect_lang(norm)) for norm in map(normalize_for_analysis, texts)]
    tokens = [t for ts in tokenizer.tokens_many(items) for t in ts]
    assert len(tokens) > 150
    assert not FUNCTION_WORDS & set(tokens)
    assert all(t == t.lower() for t in tokens)


def test_tokens_many_gives_the_same_tokens_as_tokens(tokenizer: Tokenizer) -> None:
    items = [("提现一直不到账", "zh"), ("The app keeps crashing", "en"), ("", "zh"), ("", "en")]
    assert tokenizer.tokens_many(items) == [tokenizer.tokens(t, lang) for t, lang in items]


def test_unknown_language_is_rejected(tokenizer: Tokenizer) -> None:
    with pytest.raises(ValueError, match="Unknown language 'fr'"):
        tokenizer.tokens("bonjour", "fr")  # type: ignore[arg-type]


def _section(path: Path, header: str) -> list[str]:
    """Words of one `# === ... ===` section of a stopword file."""
    words: list[str] = []
    inside = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# ==="):
            inside = header in line
        elif inside and line and not line.startswith("#"):
            words.append(line)
    return words


@pytest.mark.parametrize(
    ("name", "spacy_words", "kept"),
    [("zh.txt", SPACY_ZH, ZH_KEPT_FROM_SPACY), ("en.txt", SPACY_EN, EN_KEPT_FROM_SPACY)],
)
def test_stopword_files_hold_spacys_list_less_domain_words(
    name: str, spacy_words: set[str], kept: set[str]
) -> None:
    path = CORPORA_DIR / "stopwords" / name
    exported = _section(path, "spaCy")
    expected = {w for w in spacy_words if not w.startswith("#") and not any(c.isspace() for c in w)}
    assert exported == sorted(expected - kept)
    additions = _section(path, "voc additions")
    assert len(additions) >= 20
    assert not set(additions) & set(exported)


def test_no_domain_word_is_a_stopword() -> None:
    settings = VocSettings()
    stopwords = read_wordlist(settings.stopwords_zh) | read_wordlist(settings.stopwords_en)
    domain = {word for word, _, _ in read_user_dict(settings.user_dict)}
    assert not domain & stopwords


def test_user_dictionary_has_150_domain_words_in_jieba_format() -> None:
    entries = read_user_dict(VocSettings().user_dict)
    assert len(entries) >= 150
    assert len({word for word, _, _ in entries}) == len(entries)
    assert all(freq > 0 and tag for _, freq, tag in entries)


def test_bad_user_dictionary_line_is_a_config_error(tmp_path: Path) -> None:
    user_dict = tmp_path / "userdict.txt"
    user_dict.write_text("花呗 3000 nz\n到账 often v\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2"):
        read_user_dict(user_dict)


def test_missing_stopword_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Cannot read the word list"):
        Tokenizer(VocSettings(data_dir=tmp_path, stopwords_zh=tmp_path / "missing.txt"))


def test_jieba_cache_lives_in_the_data_dir_and_global_jieba_is_untouched(
    settings: VocSettings, tokenizer: Tokenizer
) -> None:
    assert (settings.data_dir / "cache" / "jieba.cache").is_file()
    assert "花呗" not in jieba.dt.FREQ


def test_topic_nouns_keep_their_noun_lemma() -> None:
    from voc.settings import VocSettings

    tokenizer = Tokenizer(VocSettings(_env_file=None))
    assert tokenizer.tokens("The refund is still pending and my phone number changed", "en") == [
        "refund",
        "pending",
        "phone",
        "number",
        "change",
    ]
    assert tokenizer.tokens("Notification settings are hidden", "en") == [
        "notification",
        "setting",
        "hide",
    ]
