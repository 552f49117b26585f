#!/bin/sh
# roundtrip.sh KILN [DIR]: every valid .kir file under DIR (default: this
# script's folder, tests/) goes through `kiln opt` and comes back the same:
#
#   kiln opt F      succeeds, giving A;   kiln opt A    prints A again;
#   kiln opt -O F   succeeds, giving B;   kiln opt -O B prints B again
#                   (the default pipeline is a fixed point).
#
# Files whose first RUN line starts with `not` test errors and are skipped,
# and so are fuzz corpora (parser inputs, valid or not).
# Prints one line per failure and a summary; exits 1 on any failure.
set -u
kiln=${1:?usage: roundtrip.sh KILN [DIR]}
dir=${2:-$(dirname "$0")}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

checked=0 skipped=0 failed=0

fail() {
  echo "FAIL: $1"
  failed=$((failed + 1))
}

# check FILE FLAG: kiln opt FLAG FILE, then again on its output; same text.
check() {
  if ! "$kiln" opt $2 "$1" >"$tmp/once" 2>"$tmp/err"; then
    fail "kiln opt $2 $1: $(head -n 1 "$tmp/err")"
    return
  fi
  if ! "$kiln" opt $2 "$tmp/once" >"$tmp/twice" 2>"$tmp/err"; then
    fail "kiln opt $2 on the output of $1: $(head -n 1 "$tmp/err")"
    return
  fi
  if ! cmp -s "$tmp/once" "$tmp/twice"; then
    fail "kiln opt $2 $1 does not print back identically:"
    diff "$tmp/once" "$tmp/twice" | head -n 10
  fi
}

find "$dir" -name '*.kir' -type f ! -path '*/fuzz/*' | sort >"$tmp/files"
while IFS= read -r f; do
  run=$(grep -m 1 'RUN:' "$f" | sed 's/.*RUN:[[:space:]]*//')
  case "$run" in
  not\ *)
    skipped=$((skipped + 1))
    continue
    ;;
  esac
  checked=$((checked + 1))
  check "$f" ""
  check "$f" "-O"
done <"$tmp/files"

echo "roundtrip: $checked files checked, $skipped skipped (error tests), $failed failures"
[ "$failed" -eq 0 ]
