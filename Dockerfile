# The cryptopipe image for docker-compose.yml: producer, processor, audit and the CLI.

# Stage 1: resolve Spark's Kafka source jars with the project's pom (Maven lives only here).
FROM python:3.11-slim-bookworm AS jars
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless maven \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
COPY services ./services
COPY observability ./observability
RUN pip install --no-cache-dir -c constraints.txt . \
    && CRYPTOPIPE_CACHE_DIR=/tmp/cache cryptopipe stack fetch --only spark-kafka \
    && mkdir -p /opt/spark-kafka && cp /tmp/cache/jars/spark-kafka-*/*.jar /opt/spark-kafka/

# Stage 2: the runtime: a JRE for Spark, the jars by setting (no Maven, no resolution at start).
FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
COPY services ./services
COPY observability ./observability
COPY --from=jars /opt/spark-kafka /opt/cryptopipe/spark-kafka
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --create-home --uid 10001 cryptopipe \
    && mkdir -p /var/lib/cryptopipe && chown cryptopipe /var/lib/cryptopipe

USER cryptopipe
ENV CRYPTOPIPE_STATE_DIR=/var/lib/cryptopipe \
    CRYPTOPIPE_CACHE_DIR=/opt/cryptopipe/cache \
    CRYPTOPIPE_SPARK_JARS=/opt/cryptopipe/spark-kafka \
    PYTHONUNBUFFERED=1
CMD ["cryptopipe", "--help"]
