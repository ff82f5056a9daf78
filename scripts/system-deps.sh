#!/usr/bin/env bash
# Installs the Debian packages the project needs that a fresh machine lacks (run as root).
set -euo pipefail
packages=(debootstrap docker-compose espeak-ng chromium chromium-driver fonts-noto-cjk baresip-core)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
