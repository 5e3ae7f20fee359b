#!/usr/bin/env python3
"""Render charts/scalekeeper with real Helm (helm-python-sdk, in .venv-chart) and print the
manifests as one YAML stream, for `kubectl apply -f -` where no Helm CLI exists
(`make test-node`, hack/test-node.sh). CRDs are left out, as `helm install --skip-crds` does:
the CRD is applied first, on its own (deploy/crds).

    .venv-chart/bin/python tools/render_chart.py --release scalekeeper --namespace scalekeeper \\
        --values hack/node-values.yaml --set image.tag=node-a [--kube-version 1.20]

--set takes KEY=VALUE with a dotted KEY (image.tag); VALUE is read as YAML, as `helm --set`
reads scalars (2 is a number, true a boolean, "x" a string); --set-string keeps it a string.

--kube-version 1.20 makes the output apply on Kubernetes 1.20 (the node of hack/node.sh). The
chart is rendered for it (.Capabilities.KubeVersion v1.20.0, as `helm template --kube-version`
does), so the admission webhook comes without matchConditions (1.28+); and one API version the
chart uses is missing there (the chart itself requires 1.29, Chart.yaml kubeVersion):
PodDisruptionBudget policy/v1 becomes policy/v1beta1 (policy/v1 is GA in 1.21,
https://kubernetes.io/docs/reference/using-api/deprecation-guide/#poddisruptionbudget-v125),
without spec.unhealthyPodEvictionPolicy (1.26+): 1.20 evicts an unhealthy pod only within the
budget, which is stricter and does not change what the node test checks. Any other object of
an API version 1.20 does not serve is an error, not a silent rewrite. The fields of other
objects that 1.20 lacks are not rewritten: hack/node-values.yaml turns them off with values.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "scalekeeper"

# The API versions of the chart's objects that Kubernetes 1.20 serves, and the one rewrite.
SERVED_BY_1_20 = {"v1", "apps/v1", "rbac.authorization.k8s.io/v1", "networking.k8s.io/v1", "policy/v1beta1",
                  "admissionregistration.k8s.io/v1"}
# What .Capabilities.KubeVersion says when rendering for --kube-version.
KUBE_VERSIONS = {"1.20": "v1.20.0"}
REWRITES_1_20 = {("policy/v1", "PodDisruptionBudget"): "policy/v1beta1"}


def set_path(values: dict, dotted: str, value) -> None:
    """values[a][b][c] = value for dotted "a.b.c"; a key may escape a dot as "\\."."""
    keys = [k.replace("\0", ".") for k in dotted.replace("\\.", "\0").split(".")]
    node = values
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise SystemExit(f"--set {dotted}: {k} is not a map")
    node[keys[-1]] = value


def merge(into: dict, new: dict) -> None:
    """Deep-merges new into into, maps key by key, as Helm merges values files."""
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            merge(into[k], v)
        else:
            into[k] = v


def render(chart, values: dict, *, release: str, namespace: str, kube_version: str | None = None) -> dict[str, str]:  # noqa: ANN001
    """chart.render(values) as an install; with kube_version ("v1.20.0"), .Capabilities.KubeVersion
    is that version, as `helm template --kube-version` makes it. helm-python-sdk 0.2.2's
    Chart.render() does not pass that option on, though the native helm_render it calls takes
    it ("kube_version"); so this calls helm_render itself, the way Chart.render() does."""
    import json

    if kube_version is None:
        return chart.render(values, name=release, namespace=namespace, is_install=True)
    from helm_python import _native

    opts = {"name": release, "namespace": namespace, "is_install": True, "kube_version": kube_version}
    return json.loads(_native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(opts)))  # noqa: SLF001


def objects(rendered: dict[str, str]) -> list[dict]:
    """The manifests' objects, in the order of their template paths (NOTES and tests/ left out)."""
    objs = []
    for path, text in sorted(rendered.items()):
        if path.endswith(".yaml") and "/tests/" not in path:
            objs += [d for d in yaml.safe_load_all(text) if d]
    return objs


def for_kubernetes_1_20(objs: list[dict]) -> list[dict]:
    """The objects with the rewrites of REWRITES_1_20; SystemExit naming any object 1.20 lacks."""
    out = []
    for o in objs:
        key = (o.get("apiVersion"), o.get("kind"))
        if key in REWRITES_1_20:
            o = dict(o, apiVersion=REWRITES_1_20[key])
            o["spec"] = {k: v for k, v in o.get("spec", {}).items() if k != "unhealthyPodEvictionPolicy"}
        if o.get("apiVersion") not in SERVED_BY_1_20:
            raise SystemExit(
                f"{o.get('kind')} {o.get('metadata', {}).get('name')}: {o.get('apiVersion')} is not served by "
                "Kubernetes 1.20 and has no rewrite in tools/render_chart.py"
            )
        out.append(o)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--release", default="scalekeeper")
    ap.add_argument("--namespace", default="scalekeeper")
    ap.add_argument("--values", "-f", action="append", default=[], help="a values file (repeatable, later wins)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--set-string", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--kube-version", choices=["1.20"], help="rewrite for this Kubernetes version (see above)")
    a = ap.parse_args()

    import helm_python as helm

    values: dict = {}
    for f in a.values:
        merge(values, yaml.safe_load(Path(f).read_text()) or {})
    for s, as_string in [(s, False) for s in a.set] + [(s, True) for s in a.set_string]:
        if "=" not in s:
            raise SystemExit(f"--set {s}: expected KEY=VALUE")
        k, v = s.split("=", 1)
        set_path(values, k, v if as_string else yaml.safe_load(v))
    with helm.Chart.load(CHART) as chart:
        rendered = render(chart, values, release=a.release, namespace=a.namespace,
                          kube_version=KUBE_VERSIONS.get(a.kube_version))
    objs = objects(rendered)
    if a.kube_version == "1.20":
        objs = for_kubernetes_1_20(objs)
    yaml.safe_dump_all(objs, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
