#!/usr/bin/env bash
# Checks what the release archives carry besides the binary, as BINARY prints it:
#   - `BINARY completion SHELL` for bash, zsh and fish parses: `bash -n`, `zsh -n`,
#     `fish --no-execute` (powershell and elvish: printed and non-empty; no parser here);
#   - `BINARY man --dir DIR` writes scalekeeper.1 and one page per subcommand, each with a NAME
#     and a SYNOPSIS section, and each renders without a warning (`groff -k -man -ww`).
# zsh, fish and groff are installed from Debian when missing (apt-get, as root, as
# hack/realkube.sh does); a shell that cannot be installed (no apt-get, not root) is skipped
# with a message saying so, and the check of the others still runs.
#
# usage: hack/check-install.sh BINARY
set -euo pipefail

bin="${1:?usage: $0 BINARY}"
[[ -x $bin ]] || { echo "check-install: $bin is not an executable" >&2; exit 1; }
log() { echo "check-install: $*"; }

# Debian packages for the commands that are missing; apt-get update at most once.
ensure() {
  local missing=() cmd pkg
  for cmd in "$@"; do
    pkg="${cmd#*:}" cmd="${cmd%%:*}"
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  if ! command -v apt-get >/dev/null 2>&1 || [[ $(id -u) != 0 ]]; then
    log "SKIP installing ${missing[*]}: needs apt-get as root (sudo apt-get install -y ${missing[*]})"
    return 0
  fi
  log "installing ${missing[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
ensure zsh:zsh fish:fish groff:groff-base

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0 skipped=()

for shell in bash zsh fish powershell elvish; do
  script="$work/completion.$shell"
  "$bin" completion "$shell" >"$script"
  [[ -s $script ]] || { log "FAIL $shell: empty script"; failed=1; continue; }
  case "$shell" in
    bash) check=(bash -n "$script") ;;
    zsh) check=(zsh -n "$script") ;;
    fish) check=(fish --no-execute "$script") ;;
    *) log "ok   $shell ($(wc -l <"$script") lines; not parsed: no $shell here)"; continue ;;
  esac
  if ! command -v "${check[0]}" >/dev/null 2>&1; then
    skipped+=("$shell"); log "SKIP $shell: ${check[0]} is not installed"; continue
  fi
  if out="$("${check[@]}" 2>&1)" && [[ -z $out ]]; then
    log "ok   $shell ($(wc -l <"$script") lines; ${check[*]:0:2})"
  else
    log "FAIL $shell: ${check[*]:0:2}: $out"; failed=1
  fi
done

"$bin" man --dir "$work/man" >/dev/null
pages=("$work"/man/*.1)
subcommands=0
for want in scalekeeper.1 scalekeeper-set.1 scalekeeper-schedule-set.1 scalekeeper-completion.1 scalekeeper-version.1; do
  [[ -f $work/man/$want ]] || { log "FAIL man: no $want"; failed=1; }
done
for page in "${pages[@]}"; do
  name="$(basename "$page")"
  [[ $name == scalekeeper.1 ]] || subcommands=$((subcommands + 1))
  if ! grep -q '^\.SH NAME' "$page" || ! grep -q '^\.SH SYNOPSIS' "$page"; then
    log "FAIL man: $name has no NAME or SYNOPSIS section"; failed=1
  fi
  if command -v groff >/dev/null 2>&1; then
    warnings="$(groff -k -man -Tutf8 -ww -z "$page" 2>&1)" ||
      { log "FAIL man: $name does not render: $warnings"; failed=1; }
    [[ -z $warnings ]] || { log "FAIL man: $name: $warnings"; failed=1; }
  fi
done
command -v groff >/dev/null 2>&1 || skipped+=("man rendering (no groff)")
log "ok   man: ${#pages[@]} pages (scalekeeper.1 and $subcommands subcommands)$(command -v groff >/dev/null 2>&1 && echo ', rendered by groff without a warning')"

((${#skipped[@]} == 0)) || log "skipped: ${skipped[*]}"
exit "$failed"
