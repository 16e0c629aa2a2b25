#!/usr/bin/env bash
# Installs the dependencies, builds Lockstep, and runs the demo: a local
# fleet (a coordinator and five agents over mutual TLS, real PostgreSQL 15,
# Redis and git repositories, the GitLab node fixture) enrolled and shown
# with `lockstep status` and `lockstep check`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build-demo -j"$(nproc)"
exec python3 integration/demo.py --build build-demo
