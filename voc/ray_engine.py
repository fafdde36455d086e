"""RayEngine: a re-cluster's embedding and assignment as Ray Data `map_batches` on Ray.

The driver (the process running `voc recluster`) keeps everything that touches the store or
needs all units at once: reading units, the embedding-cache lookup, the fit, describing themes
and writing the run. Ray workers do the per-unit work:

- embedding: only the texts the cache misses go to Ray, each distinct text once, in blocks of
  `batch_size` rows, to a pool of actors that each load the embedder once from the model's
  name or path (`voc.embed.load_embedder`); the driver's embedder is never pickled. Results
  come back as float16, are cached as each batch arrives (an interrupted run keeps what was
  embedded) and are put back in row order by the row index they carry.
- assignment: the vectors and languages go to Ray in the same row blocks LocalEngine uses,
  and each block is assigned by the fitted `ThemeClusterer.predict` itself (Ray Data puts the
  fitted model in the object store once), so the labels equal LocalEngine's.

Ray is an optional extra (`pip install 'voc[ray]'`), imported only when a RayEngine is used.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from voc.engine import ASSIGN_BATCH, EMBED_BATCH, StepCallback
from voc.errors import ConfigError
from voc.ids import text_hash

if TYPE_CHECKING:
    from voc.cluster import ThemeClusterer
    from voc.embed import CachedEmbedder, Embedder, TextsByHash

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
INSTALL_HINT = "pip install 'voc[ray]'"


def import_ray() -> Any:
    """The `ray` module with Ray Data, or a ConfigError that says how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (Ray Data is the `data` extra of ray)
    except ImportError as exc:
        raise ConfigError(
            f"the Ray engine needs Ray with Ray Data, which is not installed: {INSTALL_HINT} "
            "(on the driver and on every Ray worker), or use --engine local"
        ) from exc
    return ray


class RayEngine:
    """Embeds and assigns on a Ray cluster (see the module docstring).

    address: the cluster, as for `ray.init` ("auto", "ray://head:10001", "head:6379"); None
        starts a local Ray unless RAY_ADDRESS is set. A Ray this process already initialised
        is used as it is, whatever the address.
    model: the embedder workers load, a name in models/manifest.toml or a local path that
        exists on every worker; None uses the manifest model the run's embedder is.
    threads: BLAS/OpenMP threads and Ray CPUs of each worker.
    num_cpus: CPUs of the cluster this engine uses: the size of the local Ray it starts, and
        the most workers (num_cpus // threads) on a cluster; None uses the whole cluster.
    batch_size: texts (or vectors) per map_batches call.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        model: str | None = None,
        threads: int = 1,
        num_cpus: int | None = None,
        batch_size: int = EMBED_BATCH,
        assign_batch_size: int = ASSIGN_BATCH,
    ) -> None:
        if threads < 1:
            raise ConfigError(f"RayEngine threads must be at least 1, got {threads}")
        if num_cpus is not None and num_cpus < 1:
            raise ConfigError(f"RayEngine num_cpus must be at least 1, got {num_cpus}")
        if batch_size < 1 or assign_batch_size < 1:
            raise ConfigError("RayEngine batch sizes must be at least 1")
        import_ray()  # fail now, with the install hint, rather than after loading units
        self.address = address
        self.model = model
        self.threads = threads
        self.num_cpus = num_cpus
        self.batch_size = batch_size
        self.assign_batch_size = assign_batch_size
        self._started = False

    # -- connection --------------------------------------------------------------------------

    def _ray(self) -> Any:
        """Ray, connected: initialised here only when nobody has yet (the caller's Ray stays
        the caller's to shut down)."""
        ray = import_ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"address": self.address, "include_dashboard": False}
            if self.address is None and self.num_cpus is not None:
                kwargs["num_cpus"] = self.num_cpus
            try:
                ray.init(**kwargs)
            except ConnectionError as exc:
                raise ConfigError(
                    f"cannot connect to the Ray cluster at {self.address!r}: {exc}. Start it with "
                    "`ray start --head` and pass its address (--address or VOC_RAY_ADDRESS)."
                ) from exc
            self._started = True
        return ray

    def close(self) -> None:
        """Shut Ray down if this engine started it."""
        if self._started:
            import_ray().shutdown()
            self._started = False

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _cpus(self, ray: Any) -> int:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        return cpus if self.num_cpus is None else min(cpus, self.num_cpus)

    def _workers(self, ray: Any) -> int:
        """How many workers of `threads` CPUs this engine may run at once."""
        return max(1, self._cpus(ray) // self.threads)

    def _worker_args(self, ray: Any) -> dict[str, Any]:
        """Each worker's CPUs and thread pools: `threads`, but never more CPUs than the
        cluster has (a worker that can never be placed would wait forever)."""
        env = {var: str(self.threads) for var in THREAD_VARS}
        cpus = min(self.threads, self._cpus(ray))
        return {"num_cpus": cpus, "runtime_env": {"env_vars": env}}

    # -- embedding ---------------------------------------------------------------------------

    def embed(
        self, texts: Sequence[str], embedder: Embedder, progress: StepCallback | None = None
    ) -> np.ndarray:
        from voc.embed import CachedEmbedder

        if isinstance(embedder, CachedEmbedder):
            out, missing = embedder.lookup([text_hash(t) for t in texts])
            first = [texts[rows[0]] for rows in missing.values()]
            return self._embed_missing(out, missing, first, embedder, progress)
        out = np.zeros((len(texts), embedder.dim), dtype=np.float16)
        where = {str(i): [i] for i in range(len(texts))}
        return self._embed_missing(out, where, list(texts), embedder, progress)

    def embed_stored(
        self,
        hashes: Sequence[str],
        embedder: CachedEmbedder,
        texts: TextsByHash,
        progress: StepCallback | None = None,
    ) -> np.ndarray:
        from voc.embed import fetch_texts

        out, missing = embedder.lookup(hashes)
        first = fetch_texts(texts, list(missing)) if missing else []
        return self._embed_missing(out, missing, first, embedder, progress)

    def _embed_missing(
        self,
        out: np.ndarray,
        missing: dict[str, list[int]],
        first: list[str],
        embedder: Embedder,
        progress: StepCallback | None,
    ) -> np.ndarray:
        """Embed `first` (one text per key of `missing`, in order) on the workers into the
        rows `missing` names; cached under their hashes when `embedder` caches."""
        from voc.embed import CachedEmbedder

        model = self._model_name(embedder)
        total = out.shape[0]
        keys, where = list(missing), list(missing.values())
        done = total - sum(len(rows) for rows in where)
        if progress:
            progress("embed", done, total)
        if not first:
            return out
        for index, vectors in self._embed_rows(first, model, embedder.model_id):
            if isinstance(embedder, CachedEmbedder):
                embedder.remember([keys[i] for i in index], vectors)
            for i, v in zip(index, vectors, strict=True):
                out[where[i]] = v
                done += len(where[i])
            if progress:
                progress("embed", done, total)
        return out

    def _model_name(self, embedder: Embedder) -> str:
        """What workers load: the engine's model, else the manifest entry the run's embedder
        is; a manifest model other than the run's embedder is refused (the cache is keyed by
        model id, so a mismatch would cache one model's vectors under another's name)."""
        from voc.embed import load_manifest

        _, specs = load_manifest()
        if self.model is not None:
            spec = specs.get(self.model)
            if spec is not None and spec.model_id != embedder.model_id:
                raise ConfigError(
                    f"the Ray engine's model {self.model!r} is {spec.model_id}, but the run "
                    f"embeds with {embedder.model_id}; pass the same model to both"
                )
            return self.model
        for name, spec in specs.items():
            if spec.model_id == embedder.model_id:
                return name
        raise ConfigError(
            f"the run's embedder {embedder.model_id} is not a model in models/manifest.toml; "
            "give the Ray engine its path on the workers (--model PATH or VOC_MODEL)"
        )

    def _embed_rows(
        self, texts: list[str], model: str, model_id: str
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(row indices, float16 vectors) per finished batch, in any order."""
        import pyarrow as pa

        ray = self._ray()
        size = self.batch_size
        blocks = [
            pa.table({"row": np.arange(s, min(s + size, len(texts))), "text": texts[s : s + size]})
            for s in range(0, len(texts), size)
        ]
        dataset = ray.data.from_blocks(blocks)
        dataset.context.enable_progress_bars = False
        workers = min(self._workers(ray), len(blocks))
        result = dataset.map_batches(
            EmbedBatches,
            fn_constructor_args=(model, self.threads, model_id),
            batch_size=size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=workers),
            **self._worker_args(ray),
        )
        for batch in result.iter_batches(batch_size=None, batch_format="numpy"):
            yield batch["row"], np.asarray(batch["vector"], dtype=np.float16)

    # -- assignment --------------------------------------------------------------------------

    def assign(
        self,
        model: ThemeClusterer,
        X: np.ndarray,
        lang: Sequence[str] | None,
        progress: StepCallback | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        import pyarrow as pa
        from ray.data.extensions import ArrowTensorArray

        n = X.shape[0]
        labels = np.full(n, -1, dtype=np.int64)
        confidence = np.zeros(n, dtype=np.float32)
        if n == 0:
            return labels, confidence
        ray = self._ray()
        size = self.assign_batch_size
        blocks = []
        for start in range(0, n, size):
            stop = min(start + size, n)
            columns: dict[str, Any] = {
                "row": np.arange(start, stop),
                "vector": ArrowTensorArray.from_numpy(np.ascontiguousarray(X[start:stop])),
            }
            if lang is not None:
                columns["lang"] = [str(x) for x in lang[start:stop]]
            blocks.append(pa.table(columns))
        dataset = ray.data.from_blocks(blocks)
        dataset.context.enable_progress_bars = False
        result = dataset.map_batches(
            assign_batch,
            fn_kwargs={"model": model},
            batch_size=size,
            batch_format="numpy",
            compute=ray.data.TaskPoolStrategy(size=min(self._workers(ray), len(blocks))),
            **self._worker_args(ray),
        )
        done = 0
        for batch in result.iter_batches(batch_size=None, batch_format="numpy"):
            labels[batch["row"]] = batch["label"]
            confidence[batch["row"]] = batch["confidence"]
            done += len(batch["row"])
            if progress:
                progress("assign", done, n)
        return labels, confidence


# -- on the workers ----------------------------------------------------------------------------


def _limit_threads(threads: int) -> None:
    """Pin this worker's BLAS/OpenMP pools (their variables are set by the runtime env too,
    before numpy starts; this covers pools already started)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)


class EmbedBatches:
    """A Ray Data actor: loads the embedder once, then embeds batches of texts."""

    def __init__(self, model: str, threads: int, model_id: str) -> None:
        from voc.embed import load_embedder

        _limit_threads(threads)
        self.embedder = load_embedder(model, threads=threads)
        if self.embedder.model_id != model_id:
            raise ConfigError(
                f"the Ray workers load {model!r} as {self.embedder.model_id}, but the run embeds "
                f"with {model_id}: install the same model (and version) on the workers"
            )

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.encode([str(t) for t in batch["text"]])
        return {"row": batch["row"], "vector": np.asarray(vectors, dtype=np.float16)}


def assign_batch(batch: dict[str, np.ndarray], model: ThemeClusterer) -> dict[str, np.ndarray]:
    """A Ray Data task: `model.predict` on one block, as LocalEngine calls it."""
    lang = [str(x) for x in batch["lang"]] if "lang" in batch else None
    labels, confidence = model.predict(np.asarray(batch["vector"], dtype=np.float32), lang)
    return {"row": batch["row"], "label": labels, "confidence": confidence}
