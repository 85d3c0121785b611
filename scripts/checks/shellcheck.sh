#!/usr/bin/env bash
# Runs shellcheck on every shell script of the repository, run by `make test-scripts`: zero findings, or
# it fails with them. A shell script is a tracked (or new, not ignored) file whose name ends in .sh,
# whose first line runs sh or bash, or which declares `# shellcheck shell=`; sourced files are
# followed (-x) from the repository's top directory, as their `# shellcheck source=` lines say.
# Needs Debian's shellcheck.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" shellcheck
cd "$root"
command -v shellcheck >/dev/null || die "shellcheck is missing (make deps installs it)"

is_shell() {  # file
  [[ $1 == *.sh ]] && return 0
  local first
  IFS= read -r first <"$1" 2>/dev/null || return 1
  [[ $first =~ ^#!.*[/\ ](ba)?sh([[:space:]]|$) ]] || grep -q '^# shellcheck shell=' "$1"
}

scripts=()
while IFS= read -r -d '' f; do
  [[ -f $f && ! -L $f ]] && is_shell "$f" && scripts+=("$f")
done < <(git ls-files -z --cached --others --exclude-standard -- . ':!node_modules' ':!tests/fuzz/corpus')
# Never a pass that checked nothing: the repository has its scripts/ library and its users.
if ((${#scripts[@]} < 10)) || [[ " ${scripts[*]} " != *" scripts/lib.sh "* ]]; then
  die "found only ${#scripts[@]} shell scripts: is this the repository's top directory?"
fi
shellcheck -x --severity=style "${scripts[@]}" || die "findings above (${#scripts[@]} scripts checked)"
say "${#scripts[@]} shell scripts, 0 findings"
