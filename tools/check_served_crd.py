#!/usr/bin/env python3
"""Does the cluster serve a CRD with every field of this CRD file?

    python3 tools/check_served_crd.py CRD.yaml [--kubectl kubectl]

The deploy workflow (.github/workflows/deploy.yml) installs the chart with --skip-crds, so the
ReplicaPolicy CRD is an administrator's to apply; this checks, before `helm upgrade`, that the
cluster serves it and that the served schema has every field of the chart's copy (the CRD of
the version being deployed). It reads only what any authenticated user may read: the API's
published OpenAPI (v3, /openapi/v3/apis/GROUP/VERSION; v2, /openapi/v2, on clusters before
1.27), through `kubectl get --raw`. No read access to CustomResourceDefinitions is needed.

Fields only: a served schema with every field passes even if a type, enum or validation rule
differs. OpenAPI v2 drops the nested fields of nullable properties, so below such a property
v2 cannot tell, and nothing is reported there. Extra served fields (a newer CRD) pass.

Exit 0: served with every field. Exit 1: not served, or fields missing (listed), with the
command an administrator runs. Exit 2: usage or kubectl errors. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any, Iterator


def kubectl(cmd: list[str], args: list[str]) -> tuple[int, str, str]:
    p = subprocess.run(cmd + args, capture_output=True, text=True, check=False)
    return p.returncode, p.stdout, p.stderr


def load_crd(cmd: list[str], path: str) -> dict[str, Any]:
    # kubectl reads the YAML (no PyYAML needed); client-side, nothing is sent.
    rc, out, err = kubectl(cmd, ["create", "--dry-run=client", "-o", "json", "-f", path])
    if rc != 0:
        sys.exit(f"error: kubectl could not read {path}: {err.strip()}")
    doc = json.loads(out)
    if doc.get("kind") == "List":
        crds = [d for d in doc.get("items", []) if d.get("kind") == "CustomResourceDefinition"]
        if len(crds) != 1:
            sys.exit(f"error: {path} holds {len(crds)} CustomResourceDefinitions, not one")
        doc = crds[0]
    if doc.get("kind") != "CustomResourceDefinition":
        sys.exit(f"error: {path} is a {doc.get('kind')}, not a CustomResourceDefinition")
    return doc


def field_paths(schema: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Every field under an openAPIV3Schema: 'spec', 'spec.hold', 'spec.schedule[].window'."""
    for name, sub in sorted((schema.get("properties") or {}).items()):
        path = f"{prefix}.{name}" if prefix else name
        yield path
        yield from field_paths(sub, path)
    items = schema.get("items")
    if isinstance(items, dict):
        yield from field_paths(items, f"{prefix}[]")


class Served:
    """The served OpenAPI schema of one group/version/kind, with $ref and allOf resolved."""

    def __init__(self, schemas: dict[str, Any], root: dict[str, Any], source: str) -> None:
        self.schemas, self.root, self.source = schemas, root, source

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        for _ in range(20):
            ref = node.get("$ref")
            if isinstance(ref, str):
                node = self.schemas.get(ref.rsplit("/", 1)[-1], {})
                continue
            all_of = node.get("allOf")
            if isinstance(all_of, list) and len(all_of) == 1 and not node.get("properties"):
                node = all_of[0]
                continue
            return node
        return node

    def lookup(self, path: str) -> str:
        """'ok', 'missing', or 'unknown' (below an untyped node: v2 dropped what is below)."""
        node = self.resolve(self.root)
        for part in path.replace("[]", ".[]").split("."):
            if part == "":
                continue
            if part == "[]":
                nxt = node.get("items")
            else:
                nxt = (node.get("properties") or {}).get(part)
            if nxt is None:
                untyped = not node.get("type") and not node.get("properties") and not node.get("items")
                return "unknown" if untyped else "missing"
            node = self.resolve(nxt)
        return "ok"


def find_gvk(schemas: dict[str, Any], group: str, version: str, kind: str) -> dict[str, Any] | None:
    for schema in schemas.values():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            if (gvk.get("group"), gvk.get("version"), gvk.get("kind")) == (group, version, kind):
                return schema
    return None


def served_schema(cmd: list[str], group: str, version: str, kind: str) -> Served | None:
    rc, out, err = kubectl(cmd, ["get", "--raw", f"/openapi/v3/apis/{group}/{version}"])
    if rc == 0:
        schemas = json.loads(out).get("components", {}).get("schemas", {})
        root = find_gvk(schemas, group, version, kind)
        return Served(schemas, root, "OpenAPI v3") if root is not None else None
    if "NotFound" not in err and "not found" not in err.lower():
        sys.exit(f"error: kubectl get --raw /openapi/v3/apis/{group}/{version}: {err.strip()}")
    # No such path: the group/version is not served, or the cluster predates OpenAPI v3.
    rc3, _, _ = kubectl(cmd, ["get", "--raw", "/openapi/v3"])
    if rc3 == 0:
        return None  # v3 is there, the group/version is not.
    rc, out, err = kubectl(cmd, ["get", "--raw", "/openapi/v2"])
    if rc != 0:
        sys.exit(f"error: kubectl get --raw /openapi/v2: {err.strip()}")
    schemas = json.loads(out).get("definitions", {})
    root = find_gvk(schemas, group, version, kind)
    return Served(schemas, root, "OpenAPI v2") if root is not None else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("crd", help="the CRD file (YAML) the served CRD must cover")
    ap.add_argument("--kubectl", default="kubectl", help="kubectl command (default: kubectl)")
    ap.add_argument("--apply-hint", default="", help="the command an administrator runs to apply it")
    args = ap.parse_args()
    cmd = args.kubectl.split()

    crd = load_crd(cmd, args.crd)
    name = crd["metadata"]["name"]
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    hint = args.apply_hint or f"kubectl apply -f {args.crd}"
    failed = False
    for version in crd["spec"]["versions"]:
        if not version.get("served", True):
            continue
        v = version["name"]
        served = served_schema(cmd, group, v, kind)
        if served is None:
            print(f"error: the cluster does not serve {kind} {group}/{v}: the CRD {name} is not "
                  f"installed (or is older and lacks {v}). An administrator applies it: {hint}",
                  file=sys.stderr)
            failed = True
            continue
        want = list(field_paths(version.get("schema", {}).get("openAPIV3Schema", {})))
        results = {p: served.lookup(p) for p in want}
        # A missing field's own fields are missing too: name the outermost only.
        missing = [p for p, r in results.items() if r == "missing"
                   and not any(p.startswith(m + ".") or p.startswith(m + "[]") for m in results
                               if m != p and results[m] == "missing")]
        unknown = [p for p, r in results.items() if r == "unknown"]
        if missing:
            print(f"error: the cluster serves {kind} {group}/{v} without {len(missing)} field(s) of "
                  f"{args.crd}: {', '.join(missing)}. Its CRD {name} is older than the chart's. "
                  f"An administrator applies the new one: {hint}", file=sys.stderr)
            failed = True
        else:
            note = f" ({len(unknown)} below nullable fields not visible in {served.source})" if unknown else ""
            print(f"{kind} {group}/{v}: served, with all {len(want) - len(unknown)} checked fields of "
                  f"{args.crd} ({served.source}){note}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
