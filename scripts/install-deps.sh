#!/usr/bin/env bash
# Installs everything Lockstep needs to build, test and run its demo on
# Debian 12 (bookworm). Run as root.
set -euo pipefail

packages=(
	# toolchain
	build-essential cmake pkg-config clang libclang-rt-14-dev
	# libraries (DESIGN §3)
	libnng-dev libprotobuf-c-dev protobuf-c-compiler libssl-dev
	libsodium-dev libarchive-dev libcurl4-openssl-dev libyaml-dev
	libsqlite3-dev libpq-dev libjansson-dev libhiredis-dev zlib1g-dev
	# real servers and tools the tests and the demo run
	postgresql-15 postgresql-client-15 redis-server git openssl python3
	python3-yaml
	procps util-linux
)

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: run as root (it uses apt-get)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${packages[@]}"
