"""One real app for the API tests, per backend: a fresh database holding the demo interviews
(workspace `acme`, clustered once) and the demo app-store reviews (workspace `beta`, not yet
clustered), the real default embedder loaded once, and keys of every scope."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.backends import Backend
from voc.embed import Embedder, load_embedder
from voc.keys import create_key
from voc.pipeline import Ingestor, recluster
from voc.settings import CORPORA_DIR, VocSettings
from voc.store import Store

KEYS = {
    "acme-admin": ("acme", ["admin"]),
    "acme-read": ("acme", ["read"]),
    "acme-submit": ("acme", ["submit"]),
    "beta-admin": ("beta", ["admin"]),
}


@dataclass
class Api:
    client: TestClient
    store: Store
    settings: VocSettings
    tokens: dict[str, str]

    def headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[key]}"}


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return load_embedder()


@pytest.fixture(scope="session")
def api(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, backend: Backend
) -> Iterator[Api]:
    settings = backend.settings(tmp_path_factory.mktemp("api"), api_rate_limit=0)
    store = Store.open(settings.resolved_database_url)
    ingestor = Ingestor(store, settings)
    ingestor.ingest_paths([CORPORA_DIR / "demo" / "interviews"], "interview", "acme")
    ingestor.ingest_paths([CORPORA_DIR / "demo" / "reviews" / "app_store_en.csv"], "review", "beta")
    recluster(store, settings, "acme", embedder)
    tokens = {name: create_key(store, ws, scopes)[1] for name, (ws, scopes) in KEYS.items()}
    with TestClient(create_app(settings, embedder)) as client:
        yield Api(client, store, settings, tokens)
    store.close()
