#!/usr/bin/env bash
# Installs the system packages the tests drive for real: OpenSSH server, Docker engine, sudo, podman, busybox
# for FROM-scratch images, Chromium for the JupyterLab widget test, iproute2 for network
# namespaces, locales for a Latin-1 locale built with localedef. Idempotent: skips apt when everything is present already.
set -euo pipefail
PKGS=(openssh-server openssh-client docker.io busybox-static chromium iproute2 procps psmisc jq nodejs python3-venv pass gnupg sudo podman locales)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
