#!/usr/bin/env python3
"""Fail on an import cycle between the top-level modules of a crate (issue 25).

The layer table in docs/architecture.md (and the picture in crates/scalekeeper/src/lib.rs)
says dependencies point one way, from the process down to the domain. This reads every
`crate::MODULE` path in each top-level module's files (code only: comment lines, where doc
links live, are skipped), builds the module graph and reports every strongly connected
component of more than one module, with one `use` line per edge that closes the cycle, so
the fix is obvious.

Usage: tools/check_layers.py [SRC_DIR ...]   (default: crates/scalekeeper/src)
Exit status 1 when a cycle exists, 0 otherwise.
"""

from __future__ import annotations

import os
import re
import sys
from collections import defaultdict

# `crate::name` anywhere in code, and the names inside `use crate::{a, b::c}`.
PATH = re.compile(r"\bcrate::(\w+)")
GROUP = re.compile(r"\buse\s+crate::\{([^}]*)\}", re.S)


def top_module(src: str, path: str) -> str | None:
    """`cache` for src/cache.rs and src/cache/x.rs; None for lib.rs and main.rs (the roots)."""
    first = os.path.relpath(path, src).split(os.sep)[0]
    name = first[:-3] if first.endswith(".rs") else first
    return None if name in ("lib", "main") else name


def code_of(text: str) -> str:
    """The file without its comment lines (doc links are not dependencies)."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def graph(src: str) -> dict[str, dict[str, str]]:
    """module -> {module it uses: "file:line: the line"} (the first place each edge appears)."""
    edges: dict[str, dict[str, str]] = defaultdict(dict)
    for directory, _, files in sorted(os.walk(src)):
        for file in sorted(files):
            if not file.endswith(".rs"):
                continue
            path = os.path.join(directory, file)
            module = top_module(src, path)
            if module is None:
                continue
            with open(path, encoding="utf-8") as f:
                code = code_of(f.read())
            found: list[tuple[int, str]] = [(m.start(), m.group(1)) for m in PATH.finditer(code)]
            for g in GROUP.finditer(code):
                found += [(g.start(), n) for n in re.findall(r"(?:^|,)\s*(\w+)", g.group(1))]
            for offset, target in found:
                if target in (module, "self", "super") or target in edges[module]:
                    continue
                line_no = code.count("\n", 0, offset) + 1
                line = code.splitlines()[line_no - 1].strip()
                edges[module][target] = f"{os.path.relpath(path)}: {line}"
    return edges


def cycles(edges: dict[str, dict[str, str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def main(argv: list[str]) -> int:
    sources = argv[1:] or ["crates/scalekeeper/src"]
    failed = False
    for src in sources:
        edges = graph(src)
        for component in cycles(edges):
            failed = True
            print(f"{src}: import cycle between {', '.join(component)}:")
            members = set(component)
            for a in component:
                for b, where in sorted(edges[a].items()):
                    if b in members:
                        print(f"  {a} -> {b}   {where}")
    if failed:
        print("Dependencies point one way (docs/architecture.md, Layers): move the shared item down a layer.")
        return 1
    print(f"no import cycle between the top-level modules of {', '.join(sources)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
