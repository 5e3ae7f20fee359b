#!/usr/bin/env python3
"""`make krew-check`: tools/krew_manifest.py's manifest, from dummy archives, validates against
tools/krew-plugin.schema.json (check-jsonschema, from the lint venv that runs this script);
manifests broken the ways a release could break them fail it; a missing archive fails the
generator.

Run with the lint venv's python: .venv-lint/bin/python tools/test_krew_manifest.py
"""
import hashlib
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "tools" / "krew-plugin.schema.json"
GENERATOR = ROOT / "tools" / "krew_manifest.py"
CHECK = [str(pathlib.Path(sys.executable).parent / "check-jsonschema"), "--schemafile", str(SCHEMA)]
VERSION = "1.2.3"
URL = f"https://github.com/scalekeeper/scalekeeper/releases/download/v{VERSION}"


def generate(dist: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(GENERATOR), "--version", VERSION, "--dist", str(dist), "--url-base", URL],
        capture_output=True, text=True, check=False,
    )


def valid(text: str, work: pathlib.Path, name: str) -> tuple[bool, str]:
    path = work / f"{name}.yaml"
    path.write_text(text)
    r = subprocess.run([*CHECK, str(path)], capture_output=True, text=True, check=False)
    return r.returncode == 0, r.stdout + r.stderr


def main() -> int:
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        dist = work / "dist"
        dist.mkdir()
        for os_, arch in [("linux", "amd64"), ("linux", "arm64"), ("darwin", "amd64"), ("darwin", "arm64")]:
            (dist / f"scalekeeper-{VERSION}-{os_}-{arch}.tar.gz").write_bytes(f"{os_}/{arch}".encode())

        r = generate(dist)
        if r.returncode != 0:
            print(f"FAIL the generator: {r.stderr}")
            return 1
        good = r.stdout
        ok, out = valid(good, work, "good")
        print(f"{'ok  ' if ok else 'FAIL'} the generated manifest validates")
        if not ok:
            failures.append(f"generated manifest: {out}")
        want = hashlib.sha256(b"darwin/arm64").hexdigest()
        if f'sha256: "{want}"' not in good:
            failures.append("the darwin/arm64 platform does not carry its archive's SHA-256")
        else:
            print("ok   each platform carries its archive's SHA-256")

        broken = {
            "a platform without sha256": re.sub(r"\n *sha256: .*", "", good, count=1),
            "a sha256 that is not 64 hex digits": good.replace(want, want.upper(), 1),
            "a platform with an unknown os": good.replace("os: darwin", "os: plan9", 1),
            "a selector on another key": good.replace("arch: arm64", "cpu: arm64", 1),
            "a platform without bin": re.sub(r"\n *bin: .*", "", good, count=1),
            "a version without its v": good.replace(f'version: "v{VERSION}"', f'version: "{VERSION}"', 1),
            "no platforms": good.split("  platforms:")[0] + "  platforms: []\n",
            "another apiVersion": good.replace("v1alpha2", "v1alpha1", 1),
        }
        for what, text in broken.items():
            if text == good:
                failures.append(f"{what}: the test did not change the manifest")
                continue
            ok, _ = valid(text, work, re.sub(r"\W+", "-", what))
            print(f"{'FAIL' if ok else 'ok  '} {what} is refused")
            if ok:
                failures.append(f"{what} passed the schema")

        (dist / f"scalekeeper-{VERSION}-darwin-amd64.tar.gz").unlink()
        r = generate(dist)
        refused = r.returncode == 1 and "darwin-amd64" in r.stderr
        print(f"{'ok  ' if refused else 'FAIL'} a missing archive fails the generator")
        if not refused:
            failures.append(f"missing archive: exit {r.returncode}, {r.stderr!r}")

    for f in failures:
        print(f"krew-check: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
