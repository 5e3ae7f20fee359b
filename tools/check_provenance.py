#!/usr/bin/env python3
"""Fails when a tracked file carries another project's copyright or license header.

The repository holds only what this project wrote: another project's files (Kubernetes'
.proto files, say) come from a package at build time, never as a copy (issue 25). A copy
almost always keeps its origin's header, so this check reads the first HEADER_LINES lines of
every file `git ls-files` lists and reports, with exit status 1:

- a copyright notice whose holder is not scalekeeper: the capitalised word followed by a
  year, a holder, "(c)" or the sign, or an SPDX copyright tag (the patterns below),
- in files other than prose (.md, .txt, ...), a license grant: the Apache, MIT, GPL or MPL
  header sentence. This project licenses its files through LICENSE alone and puts no
  license header in them.

Only header lines count: a line that, once comment markers (//, #, /*, *, --, <!--, ...) and
indentation are stripped, starts with the notice. The same words inside a string literal or
in the middle of a sentence do not. LICENSE (the project's own license text, with the
Apache appendix's template notice) and this checker are not read.

Run by `make lint`; stdlib python3 only. Usage: python3 tools/check_provenance.py
"""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Copied headers sit at the top (go-to-protobuf's is 14 lines, after a shebang or a
# package line at most); deeper lines are the file's own text.
HEADER_LINES = 30

# Tracked files that are not read, relative to the repository root.
EXCLUDED = {"LICENSE", "tools/check_provenance.py"}

# Prose: it may quote a license sentence at the start of a line when it talks about one.
PROSE_SUFFIXES = {".md", ".txt", ".rst", ".adoc"}

# Comment markers and indentation before a header's text, repeated (" * // ...").
COMMENT_PREFIX = re.compile(r"""^(?:\s+|//[/!]?|/\*+|\*+|#+|--|;+|<!--|\{\{-?|"{3}|'{3}|%+|REM\b)*""")

# "Copyright" (capitalised, as notices are: "copyright files" in prose is not one) or a
# copyright sign, then a symbol, a year or a capitalised holder; or an SPDX copyright tag.
COPYRIGHT = re.compile(
    r"^(?:(?:Copyright|COPYRIGHT):?(?:\s+(?:\(c\)|\(C\)|©))?\s+(?=[\[(©\dA-Z])"
    r"|(?:\(c\)|\(C\)|©)\s*\d{4}"
    r"|SPDX-FileCopyrightText:)"
)

# The first sentence of the usual license headers.
LICENSE_GRANT = re.compile(
    r"^(?:Licensed under the (?:Apache|MIT|BSD) License"
    r"|Permission is hereby granted, free of charge"
    r"|This (?:program|library|file) is free software"
    r"|This Source Code Form is subject to the terms of the Mozilla Public)",
    re.IGNORECASE,
)

# The project's own name in a notice makes it ours.
OWN_HOLDER = re.compile(r"scalekeeper", re.IGNORECASE)


def tracked_files():
    """Paths of the tracked files, relative to ROOT."""
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], check=True, capture_output=True).stdout
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def header_lines(path):
    """The first HEADER_LINES lines of a regular text file, or [] (binary, symlink, gone)."""
    full = ROOT / path
    if full.is_symlink() or not full.is_file():
        return []
    with open(full, "rb") as f:
        head = f.read(64 * 1024)
    if b"\0" in head:
        return []
    return head.decode("utf-8", "replace").splitlines()[:HEADER_LINES]


def findings(path):
    """(line number, line) of every foreign notice in the header of `path`."""
    prose = Path(path).suffix.lower() in PROSE_SUFFIXES
    found = []
    for number, line in enumerate(header_lines(path), start=1):
        text = COMMENT_PREFIX.sub("", line, count=1)
        if COPYRIGHT.match(text) and not OWN_HOLDER.search(text):
            found.append((number, line.strip()))
        elif not prose and LICENSE_GRANT.match(text):
            found.append((number, line.strip()))
    return found


def main():
    bad = {}
    for path in tracked_files():
        if path in EXCLUDED:
            continue
        hits = findings(path)
        if hits:
            bad[path] = hits
    if not bad:
        return 0
    print(
        f"{len(bad)} tracked file(s) carry another project's copyright or license header; "
        "take such files from a package at build time instead of copying them:",
        file=sys.stderr,
    )
    for path, hits in sorted(bad.items()):
        for number, line in hits:
            print(f"  {path}:{number}: {line}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
