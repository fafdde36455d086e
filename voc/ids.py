"""Content-hash ids: the same content always gets the same id, so ingestion is idempotent."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_NOT_WORD = re.compile(r"[\W_]+")


def _digest(*parts: str, size: int = 32) -> str:
    h = hashlib.blake2b(digest_size=size // 2)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()


def record_id(workspace_id: str, source: str, external_id: str | None, text: str) -> str:
    """Id of a record: its workspace, source, external id and text exactly as received."""
    return _digest(workspace_id, source, external_id or "", text)


def unit_id(record_id: str, index: int) -> str:
    return f"{record_id}:{index}"


def text_hash(text: str) -> str:
    """Key of the embedding cache: the analysis text of a unit."""
    return _digest(text)


def fingerprint(text: str) -> str:
    """Equal for texts that differ only in case, width, spacing and punctuation.

    Two records with one fingerprint are near-duplicates (a re-sent ticket, a review posted
    twice); both are kept, the later one is flagged.
    """
    folded = _NOT_WORD.sub("", unicodedata.normalize("NFKC", text).casefold())
    return _digest(folded)
