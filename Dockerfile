# The cryptopipe image for docker-compose.yml: producer, processor and the CLI.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless maven \
    && rm -rf /var/lib/apt/lists/*

ENV CRYPTOPIPE_CACHE_DIR=/opt/cryptopipe/cache
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
COPY services ./services
COPY observability ./observability
RUN pip install --no-cache-dir -c constraints.txt . \
    && cryptopipe stack fetch --only spark-kafka \
    && useradd --create-home --uid 10001 cryptopipe \
    && mkdir -p /var/lib/cryptopipe && chown cryptopipe /var/lib/cryptopipe

USER cryptopipe
ENV CRYPTOPIPE_STATE_DIR=/var/lib/cryptopipe \
    CRYPTOPIPE_CACHE_DIR=/opt/cryptopipe/cache \
    PYTHONUNBUFFERED=1
CMD ["cryptopipe", "--help"]
