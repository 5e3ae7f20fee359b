#!/usr/bin/env python3
"""Keeps tools/image_archive.py (`make image-archive`) and the Dockerfile's final stage equal.

Run by `make image-archive-check`, part of `make test`. It needs only python3's standard
library and no musl build: a dummy ELF file stands in for the binary, and a few dummy *.crt
files stand in for Debian's CA certificates. The expectations about the Dockerfile are read
here with plain regular expressions, independently of the tool's parser, and the
distroless facts are written out literally.
"""

import hashlib
import io
import json
import re
import struct
import subprocess
import sys
import tarfile
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import image_archive  # noqa: E402

DOCKERFILE = (ROOT / "Dockerfile").read_text()
TAG = "localhost/scalekeeper:test"
ARGS = {"VERSION": "9.8.7", "REVISION": "0123abcd"}
NONROOT = 65532


def fake_elf(machine=62, interp=False):
    """A 64-bit little-endian ELF header with one program header: enough for the tool."""
    phoff, phentsize = 64, 56
    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header += struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, 0x401000, phoff, 0, 0, 64,
                          phentsize, 1, 64, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 3 if interp else 1, 5, 0, 0, 0, 0, 0, 0x1000)
    return header + ph + b"dummy scalekeeper\n"


def final_stage_text(dockerfile):
    """The final stage, continuations joined, comments dropped (plain text handling)."""
    text = re.sub(r"\\\n", "", dockerfile)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    last = max(i for i, ln in enumerate(lines) if ln.startswith("FROM "))
    return lines[last:]


def dockerfile_expectations(dockerfile, args):
    stage = final_stage_text(dockerfile)

    def one(keyword):
        found = [ln.split(None, 1)[1].strip() for ln in stage if ln.startswith(keyword + " ")]
        assert len(found) == 1, f"{keyword}: {found}"
        return found[0]

    labels = {}
    for ln in stage:
        if ln.startswith("LABEL "):
            for key, value in re.findall(r'(\S+)="((?:[^"\\]|\\.)*)"', ln):
                labels[key] = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], value)
    ports = {}
    for ln in stage:
        if ln.startswith("EXPOSE "):
            for p in ln.split()[1:]:
                ports[p if "/" in p else p + "/tcp"] = {}
    copy = one("COPY").split()
    return {
        "from": stage[0].split()[1],
        "user": one("USER"),
        "entrypoint": json.loads(one("ENTRYPOINT")),
        "cmd": json.loads(one("CMD")),
        "labels": labels,
        "ports": ports,
        "binary": copy[-1],
    }


def members(archive):
    with tarfile.open(archive) as tf:
        return {m.name: (m, tf.extractfile(m).read() if m.isfile() else None)
                for m in tf.getmembers()}


class ImageArchiveTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)
        self.binary = self.dir / "scalekeeper"
        self.binary.write_bytes(fake_elf())
        self.ca = self.dir / "ca" / "mozilla"
        self.ca.mkdir(parents=True)
        (self.ca / "B_Root.crt").write_text("-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n")
        (self.ca / "A_Root.crt").write_text("-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----")
        (self.ca / "README").write_text("not a certificate\n")

    def tearDown(self):
        self.tmp.cleanup()

    def build(self, name="out.tar", tag=TAG, dockerfile=DOCKERFILE, args=ARGS, binary=None):
        df = self.dir / "Dockerfile"
        df.write_text(dockerfile)
        out = self.dir / name
        image_archive.build(str(df), str(binary or self.binary), tag, str(out), dict(args),
                            str(self.ca.parent))
        return out

    def open(self, archive):
        m = members(archive)
        manifest = json.loads(m["manifest.json"][1])
        self.assertEqual(len(manifest), 1)
        config = json.loads(m[manifest[0]["Config"]][1])
        (layer_name,) = manifest[0]["Layers"]
        return m, manifest[0], config, m[layer_name][1]

    def test_config_equals_the_dockerfiles_final_stage(self):
        want = dockerfile_expectations(DOCKERFILE, ARGS)
        self.assertEqual(want["from"], "gcr.io/distroless/static-debian12:nonroot")
        _, _, config, layer = self.open(self.build())
        c = config["config"]
        self.assertEqual(c["User"], "65532:65532")
        self.assertEqual(c["User"], want["user"])
        self.assertEqual(c["Entrypoint"], want["entrypoint"])
        self.assertEqual(c["Entrypoint"], ["/usr/local/bin/scalekeeper"])
        self.assertEqual(c["Cmd"], want["cmd"])
        self.assertEqual(c["ExposedPorts"], want["ports"])
        self.assertEqual(c["Labels"], want["labels"])
        self.assertEqual(c["Labels"]["org.opencontainers.image.version"], "9.8.7")
        self.assertEqual(c["Labels"]["org.opencontainers.image.revision"], "0123abcd")
        # What distroless static-debian12:nonroot's config gives every image built on it.
        self.assertEqual(c["Env"], ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                    "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"])
        self.assertEqual(c["WorkingDir"], "/home/nonroot")
        self.assertEqual((config["os"], config["architecture"]), ("linux", "amd64"))
        self.assertNotIn("variant", config)
        self.assertEqual(config["rootfs"], {"type": "layers",
                                            "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]})

    def test_layer_holds_exactly_the_expected_files(self):
        _, _, _, layer = self.open(self.build())
        with tarfile.open(fileobj=io.BytesIO(layer)) as tf:
            entries = tf.getmembers()
            files = {m.name.rstrip("/"): m for m in entries}
            data = {m.name: tf.extractfile(m).read() for m in entries if m.isfile()}
        want = {  # path: (type, mode, uid, gid)
            "etc": ("d", 0o755, 0, 0),
            "etc/group": ("f", 0o644, 0, 0),
            "etc/nsswitch.conf": ("f", 0o644, 0, 0),
            "etc/passwd": ("f", 0o644, 0, 0),
            "etc/ssl": ("d", 0o755, 0, 0),
            "etc/ssl/certs": ("d", 0o755, 0, 0),
            "etc/ssl/certs/ca-certificates.crt": ("f", 0o644, 0, 0),
            "home": ("d", 0o755, 0, 0),
            "home/nonroot": ("d", 0o700, NONROOT, NONROOT),
            "tmp": ("d", 0o1777, 0, 0),
            "usr": ("d", 0o755, 0, 0),
            "usr/local": ("d", 0o755, 0, 0),
            "usr/local/bin": ("d", 0o755, 0, 0),
            "usr/local/bin/scalekeeper": ("f", 0o755, 0, 0),
        }
        got = {name: ("d" if m.isdir() else "f" if m.isfile() else "other", m.mode, m.uid, m.gid)
               for name, m in files.items()}
        self.assertEqual(got, want)
        self.assertEqual([m.name.rstrip("/") for m in entries], sorted(want), "sorted entries")
        self.assertTrue(all(m.mtime == 0 for m in entries), "mtime 0")
        self.assertTrue(all(m.uname == "" and m.gname == "" for m in entries), "numeric owners only")
        # No shell of any kind: nothing in a bin directory but our binary.
        self.assertFalse([n for n in files if re.search(r"(^|/)(sh|bash|ash|dash|busybox)$", n)])
        self.assertFalse([n for n in files if n.startswith(("bin", "sbin", "usr/bin", "usr/sbin"))])
        self.assertEqual(data["usr/local/bin/scalekeeper"], self.binary.read_bytes())
        passwd = data["etc/passwd"].decode().splitlines()
        self.assertEqual([ln.split(":")[:4] for ln in passwd],
                         [["root", "x", "0", "0"], ["nobody", "x", "65534", "65534"],
                          ["nonroot", "x", "65532", "65532"]])
        self.assertIn("nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin", passwd)
        groups = {ln.split(":")[0]: ln.split(":")[2] for ln in data["etc/group"].decode().splitlines()}
        self.assertEqual(groups, {"root": "0", "nobody": "65534", "tty": "5", "staff": "50",
                                  "nonroot": "65532"})
        self.assertIn("hosts:          files dns", data["etc/nsswitch.conf"].decode())
        # *.crt only, in path order, each ending in a newline.
        self.assertEqual(data["etc/ssl/certs/ca-certificates.crt"].decode(),
                         "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n"
                         "-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n")

    def test_manifest_and_repositories_name_the_tag(self):
        m, manifest, _, _ = self.open(self.build())
        self.assertEqual(manifest["RepoTags"], [TAG])
        layer_dir = manifest["Layers"][0].split("/")[0]
        self.assertEqual(json.loads(m["repositories"][1]),
                         {"localhost/scalekeeper": {"test": layer_dir}})
        self.assertEqual(m[f"{layer_dir}/VERSION"][1], b"1.0")
        image_id = hashlib.sha256(m[manifest["Config"]][1]).hexdigest()
        self.assertEqual(manifest["Config"], image_id + ".json")

    def test_pause_image_holds_only_pause(self):
        out = self.dir / "pause.tar"
        image_archive.pause(str(self.binary), "localhost/pause:3.4", str(out))
        m, manifest, config, layer = self.open(out)
        self.assertEqual(manifest["RepoTags"], ["localhost/pause:3.4"])
        self.assertEqual(config["config"], {"User": "65535:65535", "Entrypoint": ["/pause"]})
        self.assertEqual((config["os"], config["architecture"]), ("linux", "amd64"))
        with tarfile.open(fileobj=io.BytesIO(layer)) as tf:
            self.assertEqual([(t.name, t.mode, t.uid) for t in tf.getmembers()], [("pause", 0o755, 0)])
            self.assertEqual(tf.extractfile("pause").read(), self.binary.read_bytes())

    def test_same_inputs_give_the_same_bytes(self):
        a = self.build("a.tar").read_bytes()
        b = self.build("b.tar").read_bytes()
        self.assertEqual(a, b)
        other = self.build("c.tar", tag="localhost/scalekeeper:next")
        self.assertNotEqual(other.read_bytes(), a)
        # Another tag of the same build is the same image (same config, same ID).
        self.assertEqual(self.open(other)[1]["Config"], self.open(self.dir / "a.tar")[1]["Config"])
        # Another revision is another image.
        d = self.build("d.tar", args={**ARGS, "REVISION": "fedcba98"})
        self.assertNotEqual(self.open(d)[1]["Config"], self.open(self.dir / "a.tar")[1]["Config"])

    def assert_refused(self, dockerfile, *fragments, args=ARGS):
        with self.assertRaises(image_archive.ImageArchiveError) as e:
            self.build(dockerfile=dockerfile, args=args)
        for fragment in fragments:
            self.assertIn(fragment, str(e.exception))

    def test_refuses_what_it_does_not_model(self):
        n = DOCKERFILE.count("\n")
        self.assert_refused(DOCKERFILE + "RUN true\n", f"Dockerfile:{n + 1}: RUN true",
                            "does not model")
        self.assert_refused(DOCKERFILE + "COPY --from=builder /out/scalekeeper /usr/bin/x\n",
                            "exactly one COPY", f"line {n + 1}")
        for line in ("ENV RUST_LOG=debug", "WORKDIR /srv", "HEALTHCHECK NONE", "ADD x /x",
                     "STOPSIGNAL SIGINT", "VOLUME /data", "SHELL [\"/bin/sh\"]"):
            self.assert_refused(DOCKERFILE + line + "\n", line.split()[0] + " in the final stage")
        self.assert_refused(DOCKERFILE + "CMD serve\n", "exec form")
        self.assert_refused(DOCKERFILE.replace("COPY --from=builder", "COPY --chown=1:1 --from=builder"),
                            "--chown")
        self.assert_refused(DOCKERFILE.replace("COPY --from=builder /out/scalekeeper",
                                               "COPY tools/x"), "COPY --from")
        self.assert_refused(DOCKERFILE.replace("static-debian12:nonroot AS runtime",
                                               "static-debian12:latest AS runtime"),
                            "models the base")
        self.assert_refused(DOCKERFILE, "--build-arg COLOR", args={**ARGS, "COLOR": "red"})
        # A RUN in an earlier stage is the builder's business, not the image's.
        self.build(dockerfile=DOCKERFILE.replace("FROM scratch AS binary",
                                                 "FROM scratch AS binary\nRUN true"))

    def test_accepts_a_digest_pinned_base(self):
        pinned = DOCKERFILE.replace("static-debian12:nonroot AS runtime",
                                    "static-debian12:nonroot@sha256:" + "0" * 64 + " AS runtime")
        _, _, config, _ = self.open(self.build(dockerfile=pinned))
        self.assertEqual(config["config"]["User"], "65532:65532")

    def test_dockerfile_syntax(self):
        df = (
            "FROM gcr.io/distroless/static-debian12:nonroot\n"
            "ARG A=one\n"
            "ARG B\n"
            "LABEL x=\"${A} \\\"q\\\"\" \\\n"
            "# a comment inside a continuation\n"
            "      y='$A' z=$A-${B:-dflt}-${A:+set} \\\n"
            "\n"
            "      w=plain\n"
            "COPY --from=b [\"/out/bin\", \"/opt/\"]\n"
            "user nobody\n"
            "EXPOSE 1/udp 7-8\n"
            "ENTRYPOINT [\"/opt/bin\", \"$A\"]\n"
        )
        stage = image_archive.final_stage(df, {})
        self.assertEqual(stage.labels, {"x": 'one "q"', "y": "$A", "z": "one-dflt-set", "w": "plain"})
        self.assertEqual(stage.binary_dest, "/opt/bin")
        self.assertEqual(stage.user, "nobody")
        self.assertEqual(stage.exposed_ports, {"1/udp": {}, "7/tcp": {}, "8/tcp": {}})
        self.assertEqual(stage.entrypoint, ["/opt/bin", "$A"])
        self.assertIsNone(stage.cmd)
        self.assertEqual(image_archive.final_stage(df, {"B": "given"}).labels["z"], "one-given-set")

    def test_architecture_from_the_elf_header(self):
        arm = self.dir / "arm64"
        arm.write_bytes(fake_elf(machine=183))
        _, _, config, _ = self.open(self.build(binary=arm))
        self.assertEqual((config["architecture"], config["variant"]), ("arm64", "v8"))
        dynamic = self.dir / "dynamic"
        dynamic.write_bytes(fake_elf(interp=True))
        with self.assertRaisesRegex(image_archive.ImageArchiveError, "dynamically linked"):
            self.build(binary=dynamic)
        script = self.dir / "script"
        script.write_text("#!/bin/sh\n")
        with self.assertRaisesRegex(image_archive.ImageArchiveError, "not an ELF file"):
            self.build(binary=script)

    def test_no_certificates_is_an_error(self):
        for p in self.ca.glob("*.crt"):
            p.unlink()
        with self.assertRaisesRegex(image_archive.ImageArchiveError, "apt-get install ca-certificates"):
            self.build()

    def test_command_line(self):
        df = self.dir / "Dockerfile"
        df.write_text(DOCKERFILE + "RUN true\n")
        def cmd(tag=TAG):
            return [sys.executable, str(ROOT / "tools" / "image_archive.py"), "--dockerfile",
                    str(df), "--binary", str(self.binary), "--tag", tag, "--output",
                    str(self.dir / "cli.tar"), "--ca-certificates", str(self.ca.parent)]

        bad = subprocess.run(cmd(), capture_output=True, text=True)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("RUN in the final stage is not modelled", bad.stderr)
        self.assertFalse((self.dir / "cli.tar").exists())
        self.assertEqual(list(self.dir.glob("cli.tar*")), [], "no partial archive left behind")
        df.write_text(DOCKERFILE)
        good = subprocess.run(cmd() + ["--build-arg", "VERSION=1.0.0"], capture_output=True, text=True)
        self.assertEqual(good.returncode, 0, good.stderr)
        self.assertIn("localhost/scalekeeper:test (linux/amd64)", good.stdout)
        self.assertEqual((self.dir / "cli.tar").stat().st_mode & 0o777, 0o644, "readable by all")
        for tag in ("Scalekeeper:dev", "localhost/scalekeeper"):
            bad_tag = subprocess.run(cmd(tag), capture_output=True, text=True)
            self.assertEqual(bad_tag.returncode, 1, tag)
            self.assertIn("not NAME:TAG", bad_tag.stderr)


if __name__ == "__main__":
    unittest.main()
