#!/usr/bin/env bash
# Installs the Debian packages the project needs, if any are missing:
# QEMU (the VMM), linux-source + build tools (the guest kernel), busybox-static
# and cpio (the initramfs), libxml2-dev (JUnit XSD validation), librsvg2-bin
# (rsvg-convert: the report tests render the charts to PNG).
# As root with apt-get it installs them; otherwise it prints the command.
set -euo pipefail
packages=(qemu-system-x86 linux-source-6.1 flex bison libelf-dev bc make gcc binutils busybox-static cpio libxml2-dev jq librsvg2-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "[install-deps] missing Debian packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  echo "[install-deps] installed: ${missing[*]}" >&2
else
  echo "[install-deps] run as root:  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 3
fi
