#!/usr/bin/env bash
# Writes what the release archives carry besides the binary, as BINARY prints it (its clap
# definition: build it without the dev feature for a release):
#   DIR/completions/scalekeeper.bash, DIR/completions/_scalekeeper (zsh),
#   DIR/completions/scalekeeper.fish, DIR/man/man1/scalekeeper.1 and one page per subcommand.
# The release workflow runs it with a linux/amd64 host build, for every target's archive.
#
# usage: hack/install-files.sh BINARY DIR
set -euo pipefail
bin="${1:?usage: $0 BINARY DIR}" dir="${2:?usage: $0 BINARY DIR}"
rm -rf "$dir/completions" "$dir/man"
mkdir -p "$dir/completions" "$dir/man/man1"
"$bin" completion bash >"$dir/completions/scalekeeper.bash"
"$bin" completion zsh >"$dir/completions/_scalekeeper"
"$bin" completion fish >"$dir/completions/scalekeeper.fish"
"$bin" man --dir "$dir/man/man1" >/dev/null
if "$bin" --help | grep -qE '^  dev '; then
  echo "install-files: note: $bin has the dev subcommand (a --features dev build); a release build has not" >&2
fi
echo "install-files: $(find "$dir/completions" -type f | wc -l) completion scripts, $(find "$dir/man/man1" -type f | wc -l) man pages in $dir"
