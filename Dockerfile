# syntax=docker/dockerfile:1
# netiso operator image. Build from the repository root:
#   docker build -t ghcr.io/netiso/netiso:0.1.0 .
# Stage 1 builds wheels (netiso's, with templates and CRDs inside, and its dependencies');
# stage 2 installs them offline into a slim, non-root runtime with no build tools.

FROM python:3.11.13-slim-bookworm AS builder

WORKDIR /src
# Only what the wheel is built from (.dockerignore keeps the rest out of the context).
COPY pyproject.toml README.md ./
COPY operator/ operator/
COPY templates/ templates/
COPY crds/ crds/
# pip builds netiso with hatchling (pyproject force-includes templates/ and crds/) and fetches
# binary wheels for every dependency, so the runtime stage never reaches an index.
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels .


FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# The wheels come in through a bind mount, so they never land in a layer. pip compiles the
# bytecode at install time (the root filesystem is read-only at run time); then pip,
# setuptools and wheel themselves are removed: nothing in the image can build or install.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m pip install --no-cache-dir --no-index --find-links=/wheels /wheels/netiso-*.whl \
    && python -m pip uninstall --yes pip setuptools wheel \
    && groupadd --system --gid 65532 netiso \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin netiso

# Numeric, so the kubelet can verify runAsNonRoot without reading /etc/passwd.
USER 65532:65532
WORKDIR /tmp

# 8080: /metrics and /readyz; 8081: Kopf's --liveness /healthz.
EXPOSE 8080 8081

ENTRYPOINT ["kopf", "run", "-m", "netiso.main"]
CMD ["--all-namespaces", "--standalone", "--liveness=http://0.0.0.0:8081/healthz"]
