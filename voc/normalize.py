"""Text normalisation for analysis: Unicode NFKC (folds full-width forms), traditional to
simplified Chinese (OpenCC), whitespace collapsed.

The original text is never changed: records keep what the customer wrote, so quotes are exact.
Only the analysis copy (`FeedbackUnit.norm_text`) goes through here.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc

_SPACE = re.compile(r"\s+")
# Zero-width characters and bidi marks carry no meaning for analysis.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_HAN = re.compile("[\u3400-\u9fff\uf900-\ufaff]")


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional Chinese to simplified; other text passes through unchanged."""
    return _t2s().convert(text)


def normalize_for_analysis(text: str) -> str:
    """NFKC + simplified Chinese + single spaces: the form tokenisers and embedders see."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    if _HAN.search(text):
        text = to_simplified(text)
    return _SPACE.sub(" ", text).strip()
