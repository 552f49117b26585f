# lib.sh: what the `kiln compile` tests share; sourced by tests/compile/*.sh.
#
# The environment comes from tests/compile/CMakeLists.txt:
#   KILN           the kiln driver
#   COMPARE        compare_logits (golden.json fields, number comparison)
#   TEST_CC        the C compiler that built the runtime (links test programs)
#   TEST_LDFLAGS   link flags the runtime needs (sanitizers), may be empty
#   RUNTIME_DIR    holds libkiln_rt.a and libkiln_rt_main.a
#   SRC            tests/compile
#   DATA           tests/data
#   WORK           a scratch directory of this test, emptied first
set -u
: "${KILN:?}" "${COMPARE:?}" "${TEST_CC:?}" "${RUNTIME_DIR:?}" "${SRC:?}" "${DATA:?}" "${WORK:?}"
TEST_LDFLAGS=${TEST_LDFLAGS:-}

failures=0
checks=0

rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# check DESCRIPTION COMMAND...: the command must succeed.
check() {
  desc=$1
  shift
  checks=$((checks + 1))
  if ! "$@" >"$WORK/check.out" 2>&1; then
    fail "$desc: $*"
    sed 's/^/    /' "$WORK/check.out" | head -n 20
  fi
}

# same_file DESCRIPTION A B: byte-identical files.
same_file() {
  checks=$((checks + 1))
  cmp -s "$2" "$3" || fail "$1: $2 and $3 differ"
}

# expect_stderr DESCRIPTION MESSAGE COMMAND...: the command exits 1 with
# exactly MESSAGE (one line) on stderr.
expect_stderr() {
  desc=$1 msg=$2
  shift 2
  checks=$((checks + 1))
  "$@" >"$WORK/err.out" 2>"$WORK/err.txt"
  rc=$?
  got=$(cat "$WORK/err.txt")
  [ "$rc" -eq 1 ] || fail "$desc: exit status $rc, expected 1"
  [ "$got" = "$msg" ] || fail "$desc: stderr
    got:      $got
    expected: $msg"
}

# expect_error DESCRIPTION DIR MESSAGE COMMAND...: as expect_stderr, and
# DIR (where the command was to write) is left empty.
expect_error() {
  desc=$1 dir=$2
  shift 2
  expect_stderr "$desc" "$@"
  checks=$((checks + 1))
  left=$(ls -A "$dir")
  [ -z "$left" ] || fail "$desc: files left in $dir: $left"
}

# link_program OUT SOURCE ARGS...: compiles a test program as a user would.
link_program() {
  out=$1 src=$2
  shift 2
  # shellcheck disable=SC2086  # TEST_LDFLAGS holds several flags
  "$TEST_CC" -std=c11 -D_GNU_SOURCE -o "$out" "$src" "$@" $TEST_LDFLAGS -lm -lpthread
}

finish() {
  echo "$(basename "$0" .sh): $checks checks, $failures failures"
  [ "$failures" -eq 0 ]
  exit $?
}
