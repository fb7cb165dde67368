# syntax=docker/dockerfile:1
# netiso operator image. Build from the repository root (BuildKit, the default builder):
#   docker build -t ghcr.io/netiso/netiso:0.1.0 .
#   buildah build -t ghcr.io/netiso/netiso:0.1.0 .        (no Docker daemon needed)
# Stage 1 builds netiso's wheel (templates, CRDs and samples inside) and downloads its
# dependencies' wheels, every one checked against requirements/*.txt hashes; stage 2 installs
# them offline into a slim, non-root runtime with no build tools. docs/install.md says how to
# refresh the base image digest and the lock files.

# The base, pinned by digest (the multi-architecture index of the tag): a re-pushed tag cannot
# change what is built. Both stages use the same one.
ARG BASE_IMAGE=python:3.11.15-slim-bookworm@sha256:b18992999dbe963a45a8a4da40ac2b1975be1a776d939d098c647482bcad5cba

# DL3049 (labels missing): the builder stage is never shipped; hadolint does not see that the
# runtime stage uses it through RUN --mount and takes it for a final image.
# hadolint ignore=DL3049
FROM ${BASE_IMAGE} AS builder

WORKDIR /src
# Hatchling, pinned by hash, builds the wheel without build isolation (which would fetch an
# unpinned hatchling from the index).
COPY requirements/ requirements/
RUN python -m pip install --no-cache-dir --require-hashes --no-deps -r requirements/build.txt
# Only what the wheel is built from (.dockerignore keeps the rest out of the context).
COPY pyproject.toml README.md ./
COPY operator/ operator/
COPY templates/ templates/
COPY crds/ crds/
COPY manifests/samples/ manifests/samples/
# netiso's own wheel, then binary wheels of exactly the locked dependencies, each checked
# against its hash, so the runtime stage never reaches an index.
RUN python -m pip wheel --no-cache-dir --no-build-isolation --no-deps --wheel-dir /wheels . \
    && python -m pip download --no-cache-dir --require-hashes --no-deps --only-binary=:all: \
       --dest /wheels -r requirements/runtime.txt


FROM ${BASE_IMAGE}

# The version lives in pyproject.toml; a test keeps this default equal to it. Release builds
# may pass it: --build-arg VERSION=$(python -c 'import tomllib; ...').
ARG VERSION=0.1.0
ARG BASE_IMAGE
LABEL org.opencontainers.image.title="netiso" \
      org.opencontainers.image.description="Kubernetes operator that keeps opted-in namespaces behind a default-deny NetworkPolicy baseline" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/netiso/netiso" \
      org.opencontainers.image.url="https://github.com/netiso/netiso" \
      org.opencontainers.image.documentation="https://github.com/netiso/netiso/blob/main/docs/install.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="netiso" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# The wheels and the lock come in through bind mounts, so they never land in a layer. The
# dependencies are installed from the lock with --require-hashes (pip refuses any file whose
# hash is not listed), then netiso itself without dependencies. pip compiles the bytecode at
# install time (the root filesystem is read-only at run time). The development kit is a
# distribution of its own (devkit/), so the wheel holds the product only. Then pip,
# setuptools and wheel themselves go: nothing in the image can build or install.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,from=builder,source=/src/requirements,target=/requirements \
    python -m pip install --no-cache-dir --no-index --find-links=/wheels --require-hashes \
       -r /requirements/runtime.txt \
    && python -m pip install --no-cache-dir --no-index --no-deps /wheels/netiso-*.whl \
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
CMD ["--all-namespaces", "--standalone", "--liveness=http://0.0.0.0:8081/healthz", "--log-format=json"]
