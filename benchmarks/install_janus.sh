#!/bin/sh
# Install Janus (Debian's janus package) for the load-test baseline.
# Idempotent: does nothing when the janus binary is already there.
set -e
if command -v janus >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install_janus.sh: janus is missing and installing it needs root (apt-get install -y janus)" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends janus >/dev/null 2>&1 || {
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends janus >/dev/null
}
# the package starts a system service on install where systemd runs; we never use it
command -v janus >/dev/null
