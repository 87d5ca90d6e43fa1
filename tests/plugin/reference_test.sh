#!/usr/bin/env bash
# The man page and the bash completion script: generated from the binary's own command
# definitions, well-formed, complete, working, and installed by `cmake --install`.
#
#   reference_test.sh BINARY BUILD_DIR
set -euo pipefail
binary=$(realpath "$1")
build=$(realpath "$2")
work=$(mktemp -d /tmp/hijackguard-reference-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$binary" manpage > "$work/hijackguard.1"
"$binary" completion bash > "$work/hijackguard.bash"

# groff with every warning on prints nothing for a well-formed page.
out=$(groff -man -ww -z "$work/hijackguard.1" 2>&1) || fail "groff failed: $out"
[[ -z "$out" ]] || fail "groff warns: $out"
# Every command --help lists has its section, with its flags.
for command in $("$binary" --help | awk '/^SUBCOMMANDS:/ { s = 1; next } s && NF { print $1 }'); do
  grep -q "^\.SS \"hijackguard $command" "$work/hijackguard.1" || fail "the man page lacks $command"
done
grep -q '^\\fB\\-\\-expected\\-revision\\fR \\fIVALUE\\fR$' "$work/hijackguard.1" \
  || fail "the man page lacks policy apply's --expected-revision"

# The completion, as bash runs it on TAB.
complete_words() {  # the words typed so far; prints the candidates
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _hijackguard
           echo "${COMPREPLY[*]}"' _ "$work/hijackguard.bash" "$@"
}
[[ "$(complete_words hijackguard pol)" == "policy" ]] || fail "pol -> $(complete_words hijackguard pol)"
[[ "$(complete_words hijackguard policy "")" == "validate apply get" ]] \
  || fail "policy -> $(complete_words hijackguard policy "")"
[[ "$(complete_words hijackguard serve --con)" == "--config" ]] \
  || fail "serve --con -> $(complete_words hijackguard serve --con)"
[[ "$(complete_words hijackguard exemptions put --ki)" == "--kind" ]] \
  || fail "exemptions put --ki -> $(complete_words hijackguard exemptions put --ki)"
touch "$work/policy-file.json"
[[ "$(cd "$work" && complete_words hijackguard serve --config policy-f)" == "policy-file.json" ]] \
  || fail "--config takes a file name"

# Installed with the binary.
cmake --install "$build" --prefix "$work/prefix" > /dev/null
for f in bin/hijackguard share/man/man1/hijackguard.1 share/bash-completion/completions/hijackguard; do
  [[ -e "$work/prefix/$f" ]] || fail "cmake --install did not install $f"
done
cmp -s "$work/prefix/share/man/man1/hijackguard.1" "$work/hijackguard.1" \
  || fail "the installed man page is not the binary's"
echo "man page and bash completion: well-formed, complete, installed"
