# voc's production image: the API (`voc serve`) and the weekly re-cluster worker share it.
# See README.md, "Production set-up", and docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VOC_DATA_DIR=/data

WORKDIR /app

# torch first, CPU build, pinned: a bare `torch` pulls a multi-GB CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md ./
COPY voc ./voc
COPY api ./api
COPY pipelines ./pipelines
COPY models ./models
COPY corpora ./corpora
# Editable, so that voc finds models/ and corpora/ (stopwords, dictionaries) beside it.
RUN pip install -e . \
    && useradd --create-home --uid 10001 voc \
    && mkdir -p /data \
    && chown voc:voc /data

USER voc
EXPOSE 8000
CMD ["voc", "serve", "--host", "0.0.0.0", "--port", "8000"]
