# syntax=docker/dockerfile:1
# One image for every process: `docker run syncpipe gateway|worker|api|acker|migrate`.
# The embedded broker and Postgres that `syncpipe up` uses come along as dependencies but are never
# started in a container: compose (or the platform) provides a real Kafka and Postgres.

# Build stage: installs the project and its runtime dependencies into a venv. Every dependency ships
# a manylinux wheel, so no compiler is needed; the sources and pip's cache stay out of the final image.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/syncpipe
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY runtime ./runtime
COPY gateway ./gateway
COPY workers ./workers
COPY read_api ./read_api
COPY syncpipe ./syncpipe
# A regular (non-editable) install without the `test` extra: the migrations ship as package data.
RUN /opt/syncpipe/bin/pip install .

FROM python:3.11-slim
# A fixed uid so that operators can grant it files mounted from the host (the app private key).
ARG SYNCPIPE_UID=10001
RUN groupadd --system --gid "${SYNCPIPE_UID}" syncpipe \
    && useradd --system --uid "${SYNCPIPE_UID}" --gid syncpipe --no-create-home --shell /usr/sbin/nologin syncpipe
# Owned by root and read-only to the service: a compromised process cannot rewrite its own code.
COPY --from=build /opt/syncpipe /opt/syncpipe
ENV PATH=/opt/syncpipe/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER syncpipe
# Exec form: syncpipe is PID 1 and receives SIGTERM itself (workers finish their batch on it).
ENTRYPOINT ["syncpipe"]
CMD ["--help"]
