#!/usr/bin/env python3
"""Copies proto/scalekeeper/v1/scale.proto into the appendix of docs/design.md."""
import pathlib
import re

root = pathlib.Path(__file__).resolve().parent.parent
doc = root / "docs" / "design.md"
proto = (root / "proto" / "scalekeeper" / "v1" / "scale.proto").read_text()
text = doc.read_text()
new, n = re.subn(r"```proto\n.*?\n```", lambda _: "```proto\n" + proto.rstrip("\n") + "\n```", text, count=1, flags=re.S)
if n != 1:
    raise SystemExit("docs/design.md has no ```proto block to update")
doc.write_text(new)
