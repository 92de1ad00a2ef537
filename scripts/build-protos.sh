#!/usr/bin/env bash
# Generate the Python gRPC stubs for protos/*.proto into protos/generated/ (git-ignored).
# `make protos` runs this; it rebuilds only when a .proto or grpcio-tools changed.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PY:-.venv/bin/python}" -m protos.build "$@"
