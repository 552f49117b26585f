#!/usr/bin/env bash
# train.sh: rebuilds samples/tiny-kjv from scratch on a Debian 12 machine:
# the tokenizer, its check against @huggingface/tokenizers, then the model.
# Needs bible-kjv (for the text), python3-torch and, for the check, nodejs
# with tests/tokenizer's npm packages. Training takes about 35-45 minutes of
# one CPU core; its log goes to /tmp/tiny-kjv-train.log.
set -euo pipefail
py=${PYTHON:-/usr/bin/python3}  # Debian's, where python3-torch is
here=$(cd "$(dirname "$0")" && pwd)
out=$here/../tiny-kjv
cd "$here"
mkdir -p "$out"
"$py" train_tokenizer.py "$out/tokenizer.json" --vocab 2048
"$py" check_tokenizer.py "$out/tokenizer.json"
"$py" train_model.py "$out" "$@" 2>&1 | tee /tmp/tiny-kjv-train.log
