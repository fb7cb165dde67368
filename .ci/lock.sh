#!/usr/bin/env bash
# Regenerate the image's hash-pinned lock files (the Dockerfile installs with --require-hashes):
#
#   requirements/runtime.txt  netiso's runtime dependencies (pyproject.toml [project].dependencies)
#   requirements/build.txt    what builds netiso's wheel (pyproject.toml [build-system].requires,
#                             copied into requirements/build.in)
#
# Resolved for the image's interpreter and platform (CPython 3.11, x86_64 glibc 2.36: the
# Debian bookworm base), with every published file's hash, so pip accepts exactly these files.
# Run after changing a dependency; tests/ship/test_lock.py fails until the locks are in step.
# Needs uv (in the lint dependency group, so `.venv/bin/uv` after the usual install).
set -euo pipefail
cd "$(dirname "$0")/.."
uv=${UV:-.venv/bin/uv}
common=(--generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_36
    --no-header --quiet)
"$uv" pip compile "${common[@]}" pyproject.toml -o requirements/runtime.txt
"$uv" pip compile "${common[@]}" requirements/build.in -o requirements/build.txt
