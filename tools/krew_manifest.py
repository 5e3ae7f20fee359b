#!/usr/bin/env python3
"""Writes the krew plugin manifest (plugins/scalekeeper.yaml of a krew index) for a release.

    tools/krew_manifest.py --version 1.2.3 --dist dist \
        --url-base https://github.com/OWNER/REPO/releases/download/v1.2.3 > scalekeeper.yaml

Reads the release archives `scalekeeper-VERSION-{linux,darwin}-{amd64,arm64}.tar.gz` in --dist
(every one must be there), hashes each (SHA-256, as krew checks the download), and prints one
platform per archive: selector os/arch, its URI under --url-base, the files krew copies out of
it (the binary, LICENSE, the completions/ and man/ directories, each to the plugin's root)
and `bin`. krew links `bin` as
`kubectl-scalekeeper` itself, so the manifest names the plain binary.

The manifest is written as YAML with every string double-quoted (JSON's string syntax, which
YAML reads alike). tools/krew-plugin.schema.json is what `make krew-check` validates it against.

Exit codes: 0 written; 1 an archive is missing or unreadable; 2 bad arguments.
"""
import argparse
import hashlib
import json
import pathlib
import re
import sys

NAME = "scalekeeper"
PLATFORMS = [("linux", "amd64"), ("linux", "arm64"), ("darwin", "amd64"), ("darwin", "arm64")]
SHORT = "Declare and hold Deployment replica counts through scalekeeper"
DESCRIPTION = """\
The client of scalekeeper, a gRPC API over the replica counts of Kubernetes Deployments:
declare a count (kubectl scalekeeper set shop/web 5), hold one during an incident
(--for 2h --reason INC-123), schedule weekly windows, freeze a namespace, and see what is
out of sync (kubectl scalekeeper diff) or why a Deployment has its count (explain).

It talks to the scalekeeper server over mutual TLS, not to the Kubernetes API: your
kubeconfig is not used. Named contexts (scalekeeper config) reach many clusters at once:
kubectl scalekeeper diff --contexts env=prod; a fleet write prints its plan first.
"""
CAVEATS = """\
This plugin needs a scalekeeper server and a client certificate it accepts, kept as a
context (its --context names a scalekeeper context, not a kubeconfig one):
  kubectl scalekeeper config set-context prod --server HOST:PORT --ca ca.pem \\
         --cert client.pem --key client-key.pem --label env=prod
  kubectl scalekeeper config use-context prod
  kubectl scalekeeper version
Shell completions (completions/) and man pages (man/man1/) are installed with the
plugin, under ~/.krew/store/scalekeeper/VERSION/; or print them:
  kubectl scalekeeper completion bash|zsh|fish
"""
SEMVER = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$")


def sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def q(s: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax)."""
    return json.dumps(s)


def block(s: str, indent: str) -> str:
    """A YAML literal block scalar of `s`, each line indented by `indent`."""
    return "|\n" + "".join(f"{indent}{line}\n" if line else "\n" for line in s.splitlines())


def manifest(version: str, dist: pathlib.Path, url_base: str, homepage: str) -> str:
    out = [
        "apiVersion: krew.googlecontainertools.github.com/v1alpha2",
        "kind: Plugin",
        "metadata:",
        f"  name: {NAME}",
        "spec:",
        f"  version: {q('v' + version)}",
        f"  homepage: {q(homepage)}",
        f"  shortDescription: {q(SHORT)}",
        f"  description: {block(DESCRIPTION, '    ')}".rstrip("\n"),
        f"  caveats: {block(CAVEATS, '    ')}".rstrip("\n"),
        "  platforms:",
    ]
    for os_, arch in PLATFORMS:
        top = f"{NAME}-{version}-{os_}-{arch}"
        archive = dist / f"{top}.tar.gz"
        if not archive.is_file():
            raise FileNotFoundError(f"{archive}: no such archive (every platform needs one)")
        out += [
            "    - selector:",
            "        matchLabels:",
            f"          os: {os_}",
            f"          arch: {arch}",
            f"      uri: {q(url_base.rstrip('/') + '/' + archive.name)}",
            f"      sha256: {q(sha256(archive))}",
            "      files:",
        ]
        for src in [NAME, "LICENSE", "completions", "man"]:
            out += [f"        - from: {q(top + '/' + src)}", '          to: "."']
        out.append(f"      bin: {q(NAME)}")
    return "\n".join(out) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--version", required=True, help="the release version, X.Y.Z (no v)")
    p.add_argument("--dist", required=True, type=pathlib.Path, help="the directory holding the archives")
    p.add_argument("--url-base", required=True, help="where the archives are downloaded from")
    p.add_argument("--homepage", default="https://github.com/scalekeeper/scalekeeper")
    a = p.parse_args()
    if not SEMVER.match(a.version):
        p.error(f"--version {a.version!r}: expected X.Y.Z[-PRERELEASE] without a leading v")
    try:
        sys.stdout.write(manifest(a.version, a.dist, a.url_base, a.homepage))
    except OSError as e:
        print(f"krew_manifest: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
