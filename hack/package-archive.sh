#!/usr/bin/env bash
# Packs one release archive, OUT/NAME.tar.gz, the same layout for every target:
#   NAME/scalekeeper            the binary
#   NAME/kubectl-scalekeeper    a copy of it, so that `kubectl scalekeeper ...` finds it on PATH
#                               (a copy, not a hard link: krew's tar extractor takes regular
#                               files and directories only)
#   NAME/LICENSE, NAME/README.md
#   NAME/completions/           bash, zsh (_scalekeeper) and fish scripts
#   NAME/man/man1/              scalekeeper.1 and one page per subcommand
# INSTALL_FILES is what hack/install-files.sh wrote. With GNU tar (Linux; gtar on macOS when
# installed) the archive is reproducible: sorted names, owner 0, mtime SOURCE_DATE_EPOCH
# (default: the last commit's time), gzip without a name or time.
#
# usage: hack/package-archive.sh NAME BINARY INSTALL_FILES OUT
set -euo pipefail
name="${1:?usage: $0 NAME BINARY INSTALL_FILES OUT}" bin="${2:?}" files="${3:?}" out="${4:?}"
for want in completions/scalekeeper.bash completions/_scalekeeper completions/scalekeeper.fish man/man1/scalekeeper.1; do
  [[ -f $files/$want ]] || { echo "package-archive: $files/$want is missing (hack/install-files.sh)" >&2; exit 1; }
done
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/$name"
mkdir -p "$root" "$out"
install -m 0755 "$bin" "$root/scalekeeper"
install -m 0755 "$bin" "$root/kubectl-scalekeeper"
install -m 0644 LICENSE README.md "$root/"
cp -R "$files/completions" "$files/man" "$root/"
chmod -R u=rwX,go=rX "$root"
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
tar=tar
command -v gtar >/dev/null 2>&1 && tar=gtar
archive="$(cd "$out" && pwd)/$name.tar.gz"
if "$tar" --version 2>/dev/null | grep -q 'GNU tar'; then
  (cd "$stage" && "$tar" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -cf - "$name") |
    gzip -9n >"$archive"
else
  (cd "$stage" && "$tar" -cf - "$name") | gzip -9n >"$archive"
fi
echo "package-archive: $archive"
