#!/usr/bin/env python3
"""Validate the Helm chart charts/scalekeeper; run by `make chart-validate` (and `make test`).

Checks (each prints PASS/FAIL/SKIP with a short summary; the exit code is 1 on any FAIL):
  chart metadata, the CRD copies (== deploy/crds, one file per CRD), values.schema.json (draft-07, closed
  objects, defaults == values.yaml), the README value and RBAC tables (== the schema,
  == files/server-rules.yaml), the bad values files in tests/ (refused, by the schema or the
  template, as each file says, with the words of its "# error contains:" line),
  files/user-roles.yaml (the callers' ClusterRoles' rules: viewer, editor, approver), files/server-rules.yaml (the
  rules of scalekeeper's own Roles), the client CA (cert-manager needs a dedicated one or
  shareIssuerCA), deploy/deployer-rbac.yaml (the deploy identity may write the chart's RBAC
  objects and holds every rule they grant: RBAC's escalation prevention), then for every
  value set in ci/: helm lint (strict, Kubernetes 1.29 and the newest), render,
  kubernetes-validate --strict (1.29 and the newest it knows), structural invariants
  (rollout, shutdown, security context, RBAC verbs == files/server-rules.yaml, namespaces, Services,
  NetworkPolicy, PDB, TLS, monitoring, the admission webhook against
  files/admission-webhook.yaml), PromQL of alerts and dashboard (parsed; metric names exist
  in crates/scalekeeper/src/metrics.rs), the rendered flags against the real binary (when
  target/debug/scalekeeper exists), checkov on every rendered manifest, and helm package.
  Besides the value sets: the admission cases (which namespaces the webhook guards, where its
  caBundle comes from, matchConditions by Kubernetes version, the 1.20 rendering of
  tools/render_chart.py, hack/*-values.yaml) and the matchConditions CEL expression evaluated
  by cel-python on sample AdmissionRequests.

Tools come from tools/chart-requirements.txt (.venv-chart) and, for checkov,
tools/checkov-requirements.txt (.venv-checkov, its own venv: it pins old dependencies).

`--write-readme` regenerates the value table of charts/scalekeeper/README.md from the schema
and its RBAC table from files/server-rules.yaml (standard library only), `--lint-only` runs
the checks that need no render of manifests beyond helm lint (metadata, CRD, schema, README,
bad values, the user and server roles files, the client CA cases, deployer RBAC, the
admission webhook file, its CEL expression and the admission cases, lint).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "scalekeeper"
# The CRDs, one file each (`make generate`: `scalekeeper crd --kind`): deploy/crds/ is the
# source, the chart's crds/ its copy.
CRD_FILES = ("replicapolicies.scalekeeper.dev.yaml", "scalerequests.scalekeeper.dev.yaml")
CRD_SOURCE_DIR = ROOT / "deploy" / "crds"
CRD_COPY_DIR = CHART / "crds"
METRICS_RS = ROOT / "crates" / "scalekeeper" / "src" / "metrics.rs"
CHECKOV_CONFIG = ROOT / "tools" / "checkov.yaml"
README = CHART / "README.md"
# The rules of the callers' ClusterRoles (viewer, editor, approver): rendered by templates/rbac.yaml,
# embedded by `scalekeeper dev` (crates/scalekeeper/src/dev.rs), checked here.
USER_ROLES = CHART / "files" / "user-roles.yaml"
# The rules of scalekeeper's own ServiceAccount (managed: each watched namespace's Role or the
# clusterWide ClusterRole; leaderElection: the Lease Role): rendered by templates/rbac.yaml,
# written into the README's RBAC table by --write-readme, checked here against the rendered
# roles, and held by the deploy identity of DEPLOYER_RBAC (check_deployer_rbac).
SERVER_RULES = CHART / "files" / "server-rules.yaml"
SERVER_ROLES = {"managed": "each managed namespace", "leaderElection": "the release namespace, with `config.leaderElect`"}
# What an administrator grants the deploy identity of .github/workflows/deploy.yml, written for
# the release RELEASE in the namespace NAMESPACE with the default watchNamespaces. Each
# namespace of watchNamespaces gets a RoleBinding to DEPLOYER_WATCHED (its header says so).
DEPLOYER_RBAC = ROOT / "deploy" / "deployer-rbac.yaml"
DEPLOYER_WATCHED = "scalekeeper-deployer-watched"
# The admission webhook's path and entry: rendered by templates/admission-webhook.yaml,
# embedded by `scalekeeper admission-config` and the server, checked here.
ADMISSION_FILE = CHART / "files" / "admission-webhook.yaml"
ADMISSION_PORT = 8443
# Namespaces the admission webhook never guards besides the release namespace.
NEVER_GUARDED = ("kube-system",)
README_BEGIN = "<!-- values-table:begin (generated from values.schema.json: make generate) -->"
README_END = "<!-- values-table:end -->"
RBAC_BEGIN = "<!-- rbac-table:begin (generated from files/server-rules.yaml: make generate) -->"
RBAC_END = "<!-- rbac-table:end -->"

RELEASE = "scalekeeper"
NAMESPACE = "scalekeeper"
OLDEST_KUBE = "1.29.0"  # Chart.yaml kubeVersion >=1.29.0-0
TLS_DIR = "/etc/scalekeeper/tls"

# Kinds served by CRDs that kubernetes-validate has no schema for; nothing else is skipped.
SKIPPED_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "prometheus-operator CRD",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheus-operator CRD",
    ("cert-manager.io/v1", "Certificate"): "cert-manager CRD",
}

# The RBAC rules scalekeeper needs come from SERVER_RULES (server_rules()); the rendered roles
# must grant them exactly. The file may use these verbs, no wildcard and no other (bind,
# escalate and impersonate would let the server grant itself more).
SERVER_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete"}
# The callers' ClusterRoles come from USER_ROLES (user_role_rules()); what each RBAC verb
# allows is in scalekeeper_core::authz. The file grants exactly these rules per role:
# (apiGroup, resource) -> verbs. Only the approver may approve ScaleRequests.
_READ = {"get", "list", "watch"}
USER_ROLE_RULES = {
    "viewer": {("scalekeeper.dev", "replicapolicies"): _READ, ("scalekeeper.dev", "scalerequests"): _READ},
    "editor": {("scalekeeper.dev", "replicapolicies"): _READ | {"update", "delete"}, ("scalekeeper.dev", "scalerequests"): _READ},
    "approver": {("scalekeeper.dev", "replicapolicies"): _READ, ("scalekeeper.dev", "scalerequests"): _READ | {"approve"}},
}

REQUIRED_LABELS = [
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
]
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Namespace", "ValidatingWebhookConfiguration"}


class Report:
    """Collects check results and prints one line per check."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def check(self, name: str, problems: list[str], summary: str) -> bool:
        if problems:
            self.failed += 1
            print(f"FAIL {name}: {len(problems)} problem(s)")
            for p in problems[:40]:
                print(f"     - {p}")
            if len(problems) > 40:
                print(f"     ... and {len(problems) - 40} more")
            return False
        self.passed += 1
        print(f"PASS {name}: {summary}")
        return True

    def skip(self, name: str, why: str) -> None:
        self.skipped += 1
        print(f"SKIP {name}: {why}")


# ---------------------------------------------------------------------------------------
# The README value table (standard library only, for `make generate`).


def schema_rows(schema: dict) -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) for every leaf: anything but a closed object."""
    rows: list[tuple[str, str, str, str]] = []

    def walk(node: dict, path: str) -> None:
        if node.get("additionalProperties") is False and "properties" in node and path:
            closed = True
        else:
            closed = path == ""
        if closed:
            for key, sub in node["properties"].items():
                walk(sub, f"{path}.{key}" if path else key)
            return
        typ = node.get("type")
        if typ is None and "$ref" in node:
            typ = node["$ref"].rsplit("/", 1)[-1]
        if isinstance(typ, list):
            typ = "|".join(typ)
        if typ == "array" and isinstance(node.get("items"), dict):
            item = node["items"].get("type") or node["items"].get("$ref", "").rsplit("/", 1)[-1]
            typ = f"array of {item}" if item else "array"
        if "enum" in node:
            typ = f"{typ} ({' / '.join(json.dumps(e) for e in node['enum'])})"
        low = node.get("minimum", node.get("exclusiveMinimum"))
        if low is not None or "maximum" in node:
            op = ">" if "exclusiveMinimum" in node else "≥"
            bounds = f"{low}..{node['maximum']}" if low is not None and "maximum" in node else (f"{op} {low}" if low is not None else f"≤ {node['maximum']}")
            typ = f"{typ} ({bounds})"
        rows.append((path, typ or "any", json.dumps(node.get("default"), ensure_ascii=False), node.get("description", "")))

    walk(schema, "")
    return rows


def readme_table(schema: dict) -> str:
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for key, typ, default, desc in schema_rows(schema):
        cell, text = default.replace("|", "\\|"), desc.replace("|", "\\|")
        lines.append(f"| `{key}` | {typ} | `{cell}` | {text} |")
    return "\n".join(lines)


def readme_with_table(text: str, schema: dict) -> str:
    start, end = text.index(README_BEGIN) + len(README_BEGIN), text.index(README_END)
    return text[:start] + "\n" + readme_table(schema) + "\n" + text[end:]


def server_rules_plain() -> dict[str, list[dict[str, list[str]]]]:
    """files/server-rules.yaml read with the standard library (for `make generate`, which runs
    the system python3): top-level keys, each a list of rules written as `- apiGroups: [...]`,
    `resources: [...]`, `verbs: [...]` with lists of double-quoted strings. Raises ValueError on
    any other line; check_server_rules fails when this reading differs from PyYAML's."""
    out: dict[str, list[dict[str, list[str]]]] = {}
    key, rule = None, None
    for n, line in enumerate(SERVER_RULES.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z]+):", line.rstrip())
        if m:
            key, rule = m.group(1), None
            out[key] = []
            continue
        m = re.fullmatch(r"  (- |  )(apiGroups|resources|verbs): (\[.*\])", line.rstrip())
        if not m or key is None or (m.group(1) == "  " and rule is None):
            raise ValueError(f"{SERVER_RULES.relative_to(ROOT)}:{n}: not in the file's plain form (see server_rules_plain): {line!r}")
        if m.group(1) == "- ":
            rule = {}
            out[key].append(rule)
        try:
            rule[m.group(2)] = json.loads(m.group(3))
        except json.JSONDecodeError as e:
            raise ValueError(f"{SERVER_RULES.relative_to(ROOT)}:{n}: {m.group(3)} is not a list of double-quoted strings: {e}") from None
    return out


def rbac_table(roles: dict[str, list[dict[str, list[str]]]]) -> str:
    lines = ["| where | API group | resource | verbs |", "|---|---|---|---|"]
    for role, where in SERVER_ROLES.items():
        for rule in roles.get(role) or []:
            for group in rule.get("apiGroups", []):
                for resource in rule.get("resources", []):
                    lines.append(f"| {where} | {f'`{group}`' if group else '(core)'} | `{resource}` | {', '.join(rule.get('verbs', []))} |")
    return "\n".join(lines)


def readme_with_rbac_table(text: str, roles: dict) -> str:
    start, end = text.index(RBAC_BEGIN) + len(RBAC_BEGIN), text.index(RBAC_END)
    return text[:start] + "\n" + rbac_table(roles) + "\n" + text[end:]


def write_readme() -> int:
    schema = json.loads((CHART / "values.schema.json").read_text())
    text = README.read_text()
    new = readme_with_rbac_table(readme_with_table(text, schema), server_rules_plain())
    if new != text:
        README.write_text(new)
        print(f"wrote the value and RBAC tables of {README.relative_to(ROOT)}")
    return 0


# ---------------------------------------------------------------------------------------
# Helpers


def load_docs(text: str) -> list[dict]:
    import yaml

    return [d for d in yaml.safe_load_all(text) if d]


def value_sets() -> dict[str, dict]:
    import yaml

    sets = {}
    for path in sorted((CHART / "ci").glob("*-values.yaml")):
        sets[path.name.removesuffix("-values.yaml")] = yaml.safe_load(path.read_text()) or {}
    return sets


def metric_names() -> set[str]:
    """Series names the binary exposes, from the table in metrics.rs' module doc."""
    names: set[str] = set()
    for m in re.finditer(r"^//! \| `(scalekeeper_[a-z_]+)` \| ([a-z]+)", METRICS_RS.read_text(), re.M):
        name, kind = m.groups()
        if kind == "counter":
            names.add(name)  # the table already names counters with _total
        elif kind == "histogram":
            names.update(f"{name}_{s}" for s in ("bucket", "sum", "count"))
        else:
            names.add(name)
    return names


def metric_label_values() -> dict[str, dict[str, set[str]]]:
    """metric -> label -> its values, for the labels whose every value the table in metrics.rs'
    module doc lists (e.g. `result` (`ok`, `conflict`, `api_error`, `unreachable`)); labels
    listed with "..." or without values are left out."""
    out: dict[str, dict[str, set[str]]] = {}
    for m in re.finditer(r"^//! \| `(scalekeeper_[a-z_]+)` \| ([a-z]+)[^\n]*\| ([^|\n]*) \|$", METRICS_RS.read_text(), re.M):
        name, kind, cell = m.groups()
        labels = {}
        for lm in re.finditer(r"`([a-z_]+)` \(([^()]*)\)", cell):
            if re.fullmatch(r"\s*`[^`]+`(\s*,\s*`[^`]+`)*\s*", lm.group(2)):
                labels[lm.group(1)] = set(re.findall(r"`([^`]+)`", lm.group(2)))
        if not labels:
            continue
        for series in ([f"{name}_{s}" for s in ("bucket", "sum", "count")] if kind == "histogram" else [name]):
            out[series] = labels
    return out


def promql_selectors(expr: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """Parses a PromQL expression (raises ValueError) and returns its selectors: the metric
    name and its label matchers (label, op, value), op one of = != =~ !~."""
    import promql_parser

    # MatchOp is not hashable: compared, not looked up.
    ops = [(promql_parser.MatchOp.Equal, "="), (promql_parser.MatchOp.NotEqual, "!="),
           (promql_parser.MatchOp.Re, "=~"), (promql_parser.MatchOp.NotRe, "!~")]
    out: list[tuple[str, list[tuple[str, str, str]]]] = []

    def visit(node):  # noqa: ANN001
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            out.append((node.name, [(m.name, next(o for k, o in ops if k == m.op), m.value) for m in node.matchers.matchers]))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return out


def promql_metrics(expr: str) -> list[str]:
    """Parses a PromQL expression (raises ValueError) and returns its metric names."""
    return [name for name, _ in promql_selectors(expr)]


def labels_ok(obj: dict) -> list[str]:
    labels = obj.get("metadata", {}).get("labels") or {}
    missing = [k for k in REQUIRED_LABELS if not labels.get(k)]
    return [f"{ident(obj)}: missing labels {missing}"] if missing else []


def ident(obj: dict) -> str:
    md = obj.get("metadata", {})
    ns = md.get("namespace")
    return f"{obj.get('kind')}/{(ns + '/') if ns else ''}{md.get('name')}"


def rules_of(obj: dict) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for rule in obj.get("rules") or []:
        for g in rule.get("apiGroups", []):
            for r in rule.get("resources", []):
                out.setdefault((g, r), set()).update(rule.get("verbs", []))
    return out


def rules_diff(got: dict, want: dict) -> str:
    """What differs between two rule maps, in words."""
    out = []
    for key in sorted(set(got) | set(want)):
        extra, missing = got.get(key, set()) - want.get(key, set()), want.get(key, set()) - got.get(key, set())
        res = "/".join(k for k in key if k) or key[1]
        if extra:
            out.append(f"{res} has extra verbs {sorted(extra)}")
        if missing:
            out.append(f"{res} lacks verbs {sorted(missing)}")
    return "; ".join(out)


def user_role_rules() -> dict[str, dict[tuple[str, str], set[str]]]:
    """role (viewer, editor, approver) -> its rules, from files/user-roles.yaml."""
    import yaml

    roles = yaml.safe_load(USER_ROLES.read_text()) or {}
    return {role: rules_of({"rules": roles.get(role)}) for role in USER_ROLE_RULES}


def server_rules() -> dict[str, dict[tuple[str, str], set[str]]]:
    """role (managed, leaderElection) -> its rules, from files/server-rules.yaml."""
    import yaml

    roles = yaml.safe_load(SERVER_RULES.read_text()) or {}
    return {role: rules_of({"rules": roles.get(role)}) for role in SERVER_ROLES}


# The RBAC objects and the resources they are written as.
RBAC_RESOURCES = {"Role": "roles", "ClusterRole": "clusterroles", "RoleBinding": "rolebindings", "ClusterRoleBinding": "clusterrolebindings"}
# What the deploy identity needs on each of the chart's RBAC objects: read it, create and patch
# it (Helm 4's server-side apply), delete it (uninstall, or an object the chart stops rendering).
DEPLOYER_WRITE_VERBS = ("get", "create", "patch", "delete")


def rule_allows(rule: dict, group: str, resource: str, verb: str, name: str | None) -> bool:
    """Whether one PolicyRule allows VERB on GROUP's RESOURCE ("deployments/scale" for a
    subresource) for the object NAME; name None asks for every name, which a rule with
    resourceNames does not give. Resources match as Kubernetes' RBAC matches them: equal, "*",
    or "*/SUBRESOURCE"."""
    def has(values: list[str], want: str) -> bool:
        return "*" in values or want in values

    sub = resource.partition("/")[2]
    resources = rule.get("resources") or []
    if not any(r in ("*", resource) or (sub and r == f"*/{sub}") for r in resources):
        return False
    names = rule.get("resourceNames") or []
    return has(rule.get("apiGroups") or [], group) and has(rule.get("verbs") or [], verb) and (not names or name in names)


def rbac_rights(objs: list[dict], subject: tuple[str, str, str]) -> tuple[list[dict], dict[str, list[dict]]]:
    """The rules SUBJECT (kind, name, namespace) holds through the RBAC objects OBJS: at cluster
    scope (ClusterRoleBindings), and per namespace (RoleBindings to a ClusterRole or to a Role of
    their namespace). A binding to a role that OBJS lack grants nothing here."""
    cluster_roles = {o["metadata"]["name"]: o.get("rules") or [] for o in objs if o["kind"] == "ClusterRole"}
    roles = {(o["metadata"].get("namespace"), o["metadata"]["name"]): o.get("rules") or [] for o in objs if o["kind"] == "Role"}
    cluster: list[dict] = []
    by_ns: dict[str, list[dict]] = {}
    for b in objs:
        if b["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if subject not in [(x.get("kind"), x.get("name"), x.get("namespace")) for x in b.get("subjects") or []]:
            continue
        ref, ns = b["roleRef"], b["metadata"].get("namespace")
        rules = cluster_roles.get(ref["name"]) if ref["kind"] == "ClusterRole" else roles.get((ns, ref["name"]))
        if rules is None:
            continue
        if b["kind"] == "ClusterRoleBinding":
            cluster += rules
        else:
            by_ns.setdefault(ns, []).extend(rules)
    return cluster, by_ns


def rights_allow(rights: tuple[list[dict], dict[str, list[dict]]], ns: str | None, group: str, resource: str, verb: str,
                 name: str | None) -> bool:
    """Whether RIGHTS (rbac_rights) allow VERB in the namespace NS (None: at cluster scope)."""
    cluster, by_ns = rights
    return any(rule_allows(r, group, resource, verb, name) for r in cluster + (by_ns.get(ns, []) if ns else []))


def rules_missing(rights: tuple[list[dict], dict[str, list[dict]]], ns: str | None, rules: list[dict]) -> dict[str, list[str]]:
    """"group/resource" -> the verbs of RULES that RIGHTS do not give for every name in NS (what
    RBAC's escalation check asks of whoever creates a role with RULES)."""
    out: dict[str, list[str]] = {}
    for rule in rules:
        for g in rule.get("apiGroups") or []:
            for r in rule.get("resources") or []:
                for v in rule.get("verbs") or []:
                    if not rights_allow(rights, ns, g, r, v, None):
                        out.setdefault(f"{g}/{r}" if g else r, []).append(v)
    return out


def selector_matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def label_selector_selects(selector: dict, labels: dict) -> bool:
    """A metav1.LabelSelector (matchLabels and matchExpressions) against labels; {} selects all."""
    if not selector_matches(selector.get("matchLabels") or {}, labels):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, vals = e["key"], e["operator"], e.get("values") or []
        ok = {"In": key in labels and labels[key] in vals, "NotIn": key not in labels or labels[key] not in vals,
              "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def admission_file() -> dict:
    import yaml

    return yaml.safe_load(ADMISSION_FILE.read_text()) or {}


def guarded_namespaces(values: dict, namespace: str) -> list[str] | None:
    """The namespaces the admission webhook must guard: the managed ones less kube-system and
    the release namespace; None when clusterWide (every namespace but those two)."""
    if values["clusterWide"]:
        return None
    managed = list(dict.fromkeys(values["watchNamespaces"])) or [namespace]
    return [n for n in managed if n not in (*NEVER_GUARDED, namespace)]


def admission_active(values: dict, namespace: str) -> bool:
    return bool(values["admission"]["enabled"]) and guarded_namespaces(values, namespace) != []


# ---------------------------------------------------------------------------------------
# Checks without rendering


def check_metadata(rep: Report) -> None:
    import yaml

    problems = []
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    expect = {"apiVersion": "v2", "name": "scalekeeper", "appVersion": "0.1.0", "kubeVersion": ">=1.29.0-0", "type": "application"}
    for k, v in expect.items():
        if meta.get(k) != v:
            problems.append(f"Chart.yaml {k} is {meta.get(k)!r}, want {v!r}")
    cargo = (ROOT / "Cargo.toml").read_text()
    m = re.search(r'^\[workspace\.package\][^\[]*?^version = "([^"]+)"', cargo, re.M | re.S)
    if m and meta.get("appVersion") != m.group(1):
        problems.append(f"appVersion {meta.get('appVersion')} differs from the workspace version {m.group(1)}")
    rep.check("chart metadata", problems, f"{meta['name']} {meta['version']}, appVersion {meta['appVersion']}, kubeVersion {meta['kubeVersion']}")


def check_crd(rep: Report) -> None:
    import helm_python as helm

    problems = []
    for name in CRD_FILES:
        source, copy = CRD_SOURCE_DIR / name, CRD_COPY_DIR / name
        if not source.exists() or not copy.exists():
            problems.append(f"{(copy if source.exists() else source).relative_to(ROOT)} is missing: run `make generate`")
        elif copy.read_bytes() != source.read_bytes():
            problems.append(f"{copy.relative_to(ROOT)} differs from {source.relative_to(ROOT)}: run `make generate`")
    for d in (CRD_SOURCE_DIR, CRD_COPY_DIR):
        extra = sorted(p.name for p in d.iterdir() if p.name not in CRD_FILES)
        if extra:
            problems.append(f"{d.relative_to(ROOT)} holds files that are no CRD of scalekeeper's: {extra}")
    with helm.Chart.load(CHART) as chart:
        crds = sorted(c["filename"] for c in chart.crds)
    if crds != [f"scalekeeper/crds/{name}" for name in sorted(CRD_FILES)]:
        problems.append(f"helm sees the CRDs {crds}")
    rep.check("CRD copy", problems, f"chart crds/ == {CRD_SOURCE_DIR.relative_to(ROOT)}/ ({', '.join(CRD_FILES)}), and Helm loads them from crds/")


def check_schema(rep: Report) -> dict:
    import jsonschema
    import yaml

    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    problems = []
    if schema.get("$schema") != "http://json-schema.org/draft-07/schema#":
        problems.append("$schema is not draft-07")
    try:
        jsonschema.Draft7Validator.check_schema(schema)
    except jsonschema.SchemaError as e:
        problems.append(f"not a valid draft-07 schema: {e.message}")
    if schema.get("additionalProperties") is not False:
        problems.append("the top level does not set additionalProperties: false")
    problems += [f"values.yaml: {e.message} at {list(e.path)}" for e in jsonschema.Draft7Validator(schema).iter_errors(values)]
    leaves = 0

    def walk(node: dict, val, path: str) -> None:
        nonlocal leaves
        if node.get("additionalProperties") is False and "properties" in node:
            if not isinstance(val, dict):
                problems.append(f"{path or '(top)'}: values.yaml has {val!r}, the schema an object")
                return
            for k in set(val) - set(node["properties"]):
                problems.append(f"{path}.{k}: in values.yaml, not in the schema")
            for k, sub in node["properties"].items():
                if k not in val:
                    problems.append(f"{path}.{k}: in the schema, not in values.yaml")
                else:
                    walk(sub, val[k], f"{path}.{k}" if path else k)
            return
        leaves += 1
        if "default" not in node or node["default"] != val:
            problems.append(f"{path}: schema default {node.get('default')!r} != values.yaml {val!r}")
        if not node.get("description"):
            problems.append(f"{path}: no description")
        if "type" not in node and "$ref" not in node and "enum" not in node:
            problems.append(f"{path}: no type")

    walk(schema, values, "")
    rep.check("values schema", problems, f"draft-07, closed objects, {leaves} values typed, described, defaults == values.yaml")
    return schema


def check_readme(rep: Report, schema: dict) -> None:
    text = README.read_text()
    problems = []
    try:
        if readme_with_table(text, schema) != text:
            problems.append("the value table differs from values.schema.json: run `make generate`")
    except ValueError:
        problems.append("README.md has no value-table markers")
    if RBAC_BEGIN not in text or RBAC_END not in text:
        problems.append("README.md has no rbac-table markers")
    else:
        try:
            if readme_with_rbac_table(text, server_rules_plain()) != text:
                problems.append("the RBAC table differs from files/server-rules.yaml: run `make generate`")
        except ValueError as e:
            problems.append(f"the RBAC table: {e}")
    for needle in ("crds/", "never upgrade", "kubectl apply", "scalekeeper crd", "ssl-passthrough", "hot reload", "shareIssuerCA",
                   "<fullname>-admission.<namespace>.svc", "inject-ca-from", "RespectIgnoreDifferences", "driftIgnoreRules", "failurePolicy: Ignore"):
        if needle not in text:
            problems.append(f"README.md does not mention {needle!r}")
    rep.check("chart README", problems, f"value table == schema ({len(schema_rows(schema))} rows); RBAC table == files/server-rules.yaml; CRD upgrade, passthrough, reload notes present; admission guard: certificate name, caBundle, GitOps settings")


def check_bad_values(rep: Report) -> None:
    import helm_python as helm
    import yaml

    problems, count = [], 0
    with helm.Chart.load(CHART) as chart:
        for path in sorted((CHART / "tests").glob("bad-*.yaml")):
            count += 1
            text = path.read_text()
            m = re.search(r"^# refused by: (schema|template)", text, re.M)
            if not m:
                problems.append(f"{path.name}: no '# refused by: schema|template' line")
                continue
            values = yaml.safe_load(text) or {}
            try:
                chart.validate_schema(values)
                schema_ok = True
                schema_err = ""
            except helm.HelmValuesError as e:
                schema_ok, schema_err = False, str(e)
            expect = re.search(r"^# error contains: (.+)$", text, re.M)
            if m.group(1) == "schema":
                if schema_ok:
                    problems.append(f"{path.name}: the schema accepted it")
                elif expect and expect.group(1).strip() not in schema_err:
                    problems.append(f"{path.name}: the schema's error does not say {expect.group(1).strip()!r}: {schema_err.strip()}")
                continue
            if not schema_ok:
                problems.append(f"{path.name}: refused by the schema ({schema_err.strip()}), expected the template to refuse it")
                continue
            # (helm lint cannot tell: in lint mode Helm turns `fail` into a log line.)
            try:
                chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
                problems.append(f"{path.name}: rendered without error")
            except helm.HelmRenderError as e:
                if "execution error" not in str(e):
                    problems.append(f"{path.name}: refused for another reason: {e}")
                elif expect and expect.group(1).strip() not in " ".join(str(e).split()):
                    problems.append(f"{path.name}: the error does not say {expect.group(1).strip()!r}: {e}")
    rep.check("bad values refused", problems, f"{count} files in tests/ refused as each says (schema or template, with the message given)")


def check_user_roles(rep: Report) -> None:
    """files/user-roles.yaml: the viewer reads, the editor also writes, the approver reads and
    approves ScaleRequests, nothing else (the rendered ClusterRoles are compared with the file
    in the invariants)."""
    problems = []
    try:
        roles = user_role_rules()
    except Exception as e:  # noqa: BLE001
        rep.check("user roles file", [f"{USER_ROLES.relative_to(ROOT)}: {e}"], "")
        return
    for role, want in USER_ROLE_RULES.items():
        if roles[role] != want:
            problems.append(f"{role}: {rules_diff(roles[role], want) or 'no rules'}")
    rep.check("user roles file", problems, f"{USER_ROLES.relative_to(ROOT)}: viewer get/list/watch on replicapolicies and scalerequests, "
              "editor + update/delete on replicapolicies, approver + approve on scalerequests")


def check_server_rules(rep: Report) -> None:
    """files/server-rules.yaml: both roles there, plain rules (apiGroups, resources, verbs; no
    resourceNames), no wildcard, no verb beyond SERVER_VERBS, and read alike by PyYAML and by
    the standard-library reader of --write-readme (the rendered roles are compared with the
    file in the invariants, the deployer's rights in check_deployer_rbac)."""
    import yaml

    where = SERVER_RULES.relative_to(ROOT)
    try:
        roles = yaml.safe_load(SERVER_RULES.read_text()) or {}
    except Exception as e:  # noqa: BLE001
        rep.check("server rules file", [f"{where}: {e}"], "")
        return
    problems = []
    if not isinstance(roles, dict) or set(roles) != set(SERVER_ROLES):
        problems.append(f"{where}: top-level keys {sorted(roles) if isinstance(roles, dict) else roles!r}, want {sorted(SERVER_ROLES)}")
        roles = roles if isinstance(roles, dict) else {}
    for role in SERVER_ROLES:
        rules = roles.get(role)
        if not isinstance(rules, list) or not rules:
            problems.append(f"{where}: {role} is not a list of rules")
            continue
        for i, rule in enumerate(rules):
            at = f"{where}: {role}[{i}]"
            if not isinstance(rule, dict) or set(rule) != {"apiGroups", "resources", "verbs"}:
                problems.append(f"{at}: keys {sorted(rule) if isinstance(rule, dict) else rule!r}, want apiGroups, resources, verbs "
                                "(no resourceNames: the chart's roles, and the rights the deployer must hold, cover every name)")
                continue
            for k, v in rule.items():
                if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
                    problems.append(f"{at}: {k} is not a non-empty list of strings: {v!r}")
                elif any("*" in x for x in v):
                    problems.append(f"{at}: {k} has a wildcard: {v}")
            if isinstance(rule["verbs"], list) and set(rule["verbs"]) - SERVER_VERBS:
                problems.append(f"{at}: verbs {sorted(set(rule['verbs']) - SERVER_VERBS)} beyond {sorted(SERVER_VERBS)}")
    if not problems:
        got = server_rules()
        if got["managed"] == got["leaderElection"]:
            problems.append(f"{where}: managed and leaderElection grant the same rules (the invariants tell the Roles apart by their rules)")
        try:
            if server_rules_plain() != roles:
                problems.append(f"{where}: the standard-library reader of --write-readme reads it otherwise than PyYAML: "
                                "keep each rule as `- apiGroups: [...]`, `resources: [...]`, `verbs: [...]` with double-quoted strings")
        except ValueError as e:
            problems.append(str(e))
    rep.check("server rules file", problems,
              f"{where}: {', '.join(f'{role} {len(roles.get(role) or [])} rules' for role in SERVER_ROLES)}; plain rules, "
              f"no wildcard, verbs within {'/'.join(sorted(SERVER_VERBS))}")


def check_deployer_rbac(rep: Report, sets: dict[str, dict]) -> None:  # noqa: C901
    """deploy/deployer-rbac.yaml against the chart rendered for every value set of ci/ but
    clusterWide (docs/operations.md: it needs more than the file grants), as release RELEASE in
    NAMESPACE, with the file's RoleBinding to DEPLOYER_WATCHED copied into each namespace of
    watchNamespaces as its header tells the administrator. For each of the chart's Roles,
    ClusterRoles and bindings, the deploy identity (the file's ServiceAccount) must be able to
    write the object (DEPLOYER_WRITE_VERBS, by name) and, since RBAC refuses to let anyone
    grant what they do not hold (escalation prevention), hold every rule a role grants where it
    grants it (files/server-rules.yaml's managed rules in each watched namespace, its
    leaderElection rules in the release namespace, files/user-roles.yaml's at cluster scope);
    a binding to a role the chart does not render (system:auth-delegator) needs `bind` on it."""
    import helm_python as helm
    import yaml

    where = DEPLOYER_RBAC.relative_to(ROOT)
    try:
        granted = load_docs(DEPLOYER_RBAC.read_text())
    except Exception as e:  # noqa: BLE001
        rep.check("deployer RBAC", [f"{where}: {e}"], "")
        return
    accounts = [o for o in granted if o.get("kind") == "ServiceAccount"]
    watched_bindings = [o for o in granted if o.get("kind") == "RoleBinding" and o["roleRef"]["name"] == DEPLOYER_WATCHED]
    if len(accounts) != 1 or not watched_bindings:
        rep.check("deployer RBAC", [f"{where}: want one ServiceAccount (the deploy identity) and a RoleBinding to {DEPLOYER_WATCHED} "
                                    f"(copied into each namespace of watchNamespaces); found {[ident(o) for o in accounts + watched_bindings]}"], "")
        return
    sa = accounts[0]["metadata"]
    subject = ("ServiceAccount", sa["name"], sa.get("namespace"))
    server = yaml.safe_load(SERVER_RULES.read_text()) or {}
    users = yaml.safe_load(USER_ROLES.read_text()) or {}
    sources = [(f"{SERVER_RULES.relative_to(ROOT)}, {role}", rules_of({"rules": server.get(role)})) for role in SERVER_ROLES]
    sources += [(f"{USER_ROLES.relative_to(ROOT)}, {role}", rules_of({"rules": users.get(role)})) for role in USER_ROLE_RULES]

    def source_of(role: dict) -> str:
        return next((src for src, rules in sources if rules == rules_of(role)), "the chart")

    found: dict[str, list[str]] = {}  # problem -> the value sets that have it
    checked, objects = [], 0
    with helm.Chart.load(CHART) as chart:
        for name, values in sets.items():
            merged = chart.merge_values(values)
            if merged["clusterWide"]:
                continue
            try:
                rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
            except helm.HelmError as e:
                found.setdefault(str(e), []).append(name)
                continue
            checked.append(name)
            objs = [o for path, text in sorted(rendered.items()) if path.endswith(".yaml") for o in load_docs(text)]
            rbac = [o for o in objs if o["kind"] in RBAC_RESOURCES]
            objects += len(rbac)
            watched = list(dict.fromkeys(merged["watchNamespaces"])) or [NAMESPACE]
            have = {b["metadata"]["namespace"] for b in watched_bindings}
            copies = [{**watched_bindings[0], "metadata": {**watched_bindings[0]["metadata"], "namespace": ns}} for ns in watched if ns not in have]
            rights = rbac_rights(granted + copies, subject)
            bound_in = {ns: sorted({b["roleRef"]["name"] for b in granted + copies if b.get("kind") == "RoleBinding"
                                    and b["metadata"].get("namespace") == ns}) for ns in {NAMESPACE, *watched}}
            chart_roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in rbac if o["kind"] in ("Role", "ClusterRole")}
            for o in rbac:
                ns = o["metadata"].get("namespace")
                scope = f"in namespace {ns} (where it is bound to {', '.join(bound_in.get(ns) or ['nothing'])})" if ns else "at cluster scope"
                group, resource, obj_name = "rbac.authorization.k8s.io", RBAC_RESOURCES[o["kind"]], o["metadata"]["name"]
                cannot = [v for v in DEPLOYER_WRITE_VERBS if not rights_allow(rights, ns, group, resource, v, obj_name)]
                if cannot:
                    found.setdefault(f"the deployer may not {'/'.join(cannot)} the chart's {ident(o)} {scope}: add it to {where}", []).append(name)
                if o["kind"] in ("Role", "ClusterRole"):
                    missing = rules_missing(rights, ns, o.get("rules") or [])
                    if missing:
                        what = "; ".join(f"{res} {verbs}" for res, verbs in sorted(missing.items()))
                        found.setdefault(f"{ident(o)} grants rules ({source_of(o)}) the deployer does not hold {scope}: {what}. RBAC lets "
                                         f"the deployer create a role only with rules it holds itself: add them to {where}", []).append(name)
                    continue
                # A binding to one of the chart's roles needs what the role grants, checked
                # above; to another role, `bind` on it.
                ref = o["roleRef"]
                if (ref["kind"], ns if ref["kind"] == "Role" else None, ref["name"]) in chart_roles:
                    continue
                ref_resource = RBAC_RESOURCES[ref["kind"]]
                if not rights_allow(rights, ns, group, ref_resource, "bind", ref["name"]):
                    found.setdefault(f"{ident(o)} binds {ref['kind']} {ref['name']}, which the chart does not render: the deployer "
                                     f"needs `bind` on {ref_resource} {ref['name']} {scope}", []).append(name)
    problems = [f"{', '.join(names)}: {problem}" for problem, names in found.items()]
    skipped = sorted(set(sets) - set(checked))
    rep.check("deployer RBAC", problems,
              f"{where} ({subject[0]} {subject[2]}/{subject[1]}, a RoleBinding to {DEPLOYER_WATCHED} in each watched namespace): "
              f"may write the chart's {objects} Roles, ClusterRoles and bindings of {len(checked)} value sets and holds every rule they grant "
              f"({SERVER_RULES.relative_to(ROOT)} where the chart grants it, {USER_ROLES.relative_to(ROOT)} at cluster scope) or may bind "
              f"the role; not checked: {', '.join(skipped) or 'none'} (clusterWide needs more than the file grants, docs/operations.md)")


# What the admission guard must be sent, exactly: (apiGroup, apiVersion, resource, operation).
# Updates and deletes of ReplicaPolicies are the two-person rule's door for kubectl edit,
# apply and delete (scalekeeper_core::admission::policy).
ADMISSION_RULES = {("apps", "v1", "deployments", "UPDATE"), ("apps", "v1", "deployments/scale", "UPDATE"),
                   ("scalekeeper.dev", "v1alpha1", "replicapolicies", "UPDATE"),
                   ("scalekeeper.dev", "v1alpha1", "replicapolicies", "DELETE")}


def admission_rules(webhook: dict) -> set[tuple[str, str, str, str]]:
    return {(g, v, r, op) for rule in webhook.get("rules") or [] for g in rule.get("apiGroups", [])
            for v in rule.get("apiVersions", []) for r in rule.get("resources", []) for op in rule.get("operations", [])}


def check_admission_file(rep: Report) -> None:
    """files/admission-webhook.yaml: what the guard's design requires of the webhook entry
    (the rendered configuration is compared with the file in the invariants)."""
    problems = []
    try:
        doc = admission_file()
    except Exception as e:  # noqa: BLE001
        rep.check("admission webhook file", [f"{ADMISSION_FILE.relative_to(ROOT)}: {e}"], "")
        return
    wh = doc.get("webhook") or {}
    if not str(doc.get("path", "")).startswith("/"):
        problems.append(f"path {doc.get('path')!r} is not an absolute path")
    if len(str(wh.get("name", "")).split(".")) < 3:
        problems.append(f"webhook.name {wh.get('name')!r} is not a fully qualified name (three segments or more)")
    if wh.get("failurePolicy") != "Ignore":
        problems.append(f"failurePolicy {wh.get('failurePolicy')!r}: the guard fails open (Ignore), the reconciler is the backstop")
    if wh.get("sideEffects") != "None":
        problems.append(f"sideEffects {wh.get('sideEffects')!r}, want None (dry-run requests are sent too)")
    if "v1" not in (wh.get("admissionReviewVersions") or []):
        problems.append(f"admissionReviewVersions {wh.get('admissionReviewVersions')} lacks v1")
    if admission_rules(wh) != ADMISSION_RULES:
        problems.append(f"rules select {sorted(admission_rules(wh))}, want {sorted(ADMISSION_RULES)}")
    if any(r.get("scope") != "Namespaced" for r in wh.get("rules") or []):
        problems.append("a rule's scope is not Namespaced")
    for key in ("clientConfig", "namespaceSelector", "timeoutSeconds", "objectSelector"):
        if key in wh:
            problems.append(f"webhook.{key} is set in the file; it is the chart's (where scalekeeper runs and what it manages)")
    names = [m.get("name") for m in wh.get("matchConditions") or []]
    if len(names) != len(set(names)) or not all(names):
        problems.append(f"matchConditions names {names} are missing or repeat")
    rep.check("admission webhook file", problems, f"{ADMISSION_FILE.relative_to(ROOT)}: path {doc.get('path')}, {wh.get('name')}: "
              "UPDATE of apps/v1 deployments and deployments/scale, UPDATE and DELETE of replicapolicies, failurePolicy Ignore, "
              "sideEffects None, admissionReview v1")


def admission_request(kind: str, old: dict | None, new: dict | None, subresource: str = "") -> dict:
    """An admission.k8s.io/v1 AdmissionRequest for an UPDATE of a Deployment (or its scale)."""
    group, version = ("autoscaling", "v1") if kind == "Scale" else ("apps", "v1")
    return {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"}, "subResource": subresource,
            "requestKind": {"group": group, "version": version, "kind": kind},
            "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"}, "requestSubResource": subresource,
            "name": "web", "namespace": "shop", "operation": "UPDATE",
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": new, "oldObject": old, "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "UpdateOptions"}}


def deployment(replicas: int | None, image: str = "registry.example/web:1") -> dict:
    spec = {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": image}]}}}
    if replicas is not None:
        spec = {"replicas": replicas, **spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}, "spec": spec}


def scale(replicas: int) -> dict:
    # autoscaling/v1 ScaleSpec.Replicas is `json:"replicas,omitempty"`: 0 leaves spec {}.
    return {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"replicas": replicas} if replicas else {}, "status": {"replicas": 3, "selector": "app=web"}}


def policy_request(operation: str, old: dict, new: dict | None) -> dict:
    """An AdmissionRequest for an UPDATE or DELETE of a ReplicaPolicy (a DELETE's object is null)."""
    gvr = {"group": "scalekeeper.dev", "version": "v1alpha1", "resource": "replicapolicies"}
    gvk = {"group": "scalekeeper.dev", "version": "v1alpha1", "kind": "ReplicaPolicy"}
    return {"uid": "705ab4f5-6393-11e8-b7cc-42010a800003", "kind": gvk, "resource": gvr, "requestKind": gvk,
            "requestResource": gvr, "name": "web", "namespace": "shop", "operation": operation,
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": new, "oldObject": old, "dryRun": False}


def policy(replicas: int) -> dict:
    return {"apiVersion": "scalekeeper.dev/v1alpha1", "kind": "ReplicaPolicy", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"replicas": replicas, "approval": {"above": 10, "below": 2, "approvers": 1}}}


def self_condition(namespace: str, service_account: str) -> dict:
    """The matchCondition the chart adds: nothing the ServiceAccount `service_account` of
    `namespace` (scalekeeper's pods) writes is sent."""
    return {"name": "not-scalekeeper",
            "expression": f"request.userInfo.username != 'system:serviceaccount:{namespace}:{service_account}'"}


def as_user(request: dict, username: str) -> dict:
    return {**request, "userInfo": {"username": username, "groups": ["system:serviceaccounts", "system:authenticated"]}}


SELF = "system:serviceaccount:scalekeeper:scalekeeper"

# (what, the request, whether the API server must send it to the webhook)
CEL_CASES = [
    ("Deployment 3 -> 0", admission_request("Deployment", deployment(3), deployment(0)), True),
    ("Deployment 3 -> 5", admission_request("Deployment", deployment(3), deployment(5)), True),
    ("Deployment 3 -> 3, new image", admission_request("Deployment", deployment(3), deployment(3, "registry.example/web:2")), False),
    ("Deployment 0 -> 0, new image", admission_request("Deployment", deployment(0), deployment(0, "registry.example/web:2")), False),
    ("Deployment without spec.replicas (3 -> unset)", admission_request("Deployment", deployment(3), deployment(None)), True),
    ("Scale 3 -> 0 (spec {}: replicas omitted)", admission_request("Scale", scale(3), scale(0), "scale"), True),
    ("Scale 0 -> 3", admission_request("Scale", scale(0), scale(3), "scale"), True),
    ("Scale 3 -> 3", admission_request("Scale", scale(3), scale(3), "scale"), False),
    ("Deployment without spec", admission_request("Deployment", {"apiVersion": "apps/v1", "kind": "Deployment"}, {"apiVersion": "apps/v1", "kind": "Deployment"}), True),
    ("old object without spec", admission_request("Deployment", {"apiVersion": "apps/v1", "kind": "Deployment"}, deployment(3)), True),
    ("new object without spec", admission_request("Deployment", deployment(3), {"apiVersion": "apps/v1", "kind": "Deployment"}), True),
    # Every policy write is the webhook's to decide, the count unchanged too (an edit of the band).
    ("ReplicaPolicy 6 -> 40", policy_request("UPDATE", policy(6), policy(40)), True),
    ("ReplicaPolicy 6 -> 6, the band edited", policy_request("UPDATE", policy(6), policy(6)), True),
    ("ReplicaPolicy deleted (object null)", policy_request("DELETE", policy(6), None), True),
    # The chart's own condition: scalekeeper's writes are never sent; another ServiceAccount's are.
    ("Scale 6 -> 3 by scalekeeper (a correction)", as_user(admission_request("Scale", scale(6), scale(3), "scale"), SELF), False),
    ("ReplicaPolicy 6 -> 40 by scalekeeper", as_user(policy_request("UPDATE", policy(6), policy(40)), SELF), False),
    ("Scale 3 -> 0 by another ServiceAccount of that namespace",
     as_user(admission_request("Scale", scale(3), scale(0), "scale"), "system:serviceaccount:scalekeeper:other"), True),
]


def check_admission_cel(rep: Report) -> None:
    """The matchConditions of files/admission-webhook.yaml, compiled and evaluated by a CEL
    implementation (cel-python) with the variables the API server binds (object, oldObject,
    request), on sample AdmissionRequests: only updates that change the count are sent, and
    any whose counts cannot be read."""
    try:
        import celpy
    except ImportError as e:
        rep.skip("admission matchConditions (CEL)", f"cel-python is not installed ({e}): pip install -r tools/chart-requirements.txt")
        return
    from importlib.metadata import version

    problems = []
    conditions = (admission_file().get("webhook") or {}).get("matchConditions") or []
    if not conditions:
        rep.check("admission matchConditions (CEL)", ["files/admission-webhook.yaml has no matchConditions"], "")
        return
    # As the chart renders them (admission_invariants checks that it does): its own first.
    conditions = [self_condition(*SELF.split(":")[2:]), *conditions]
    env = celpy.Environment()
    programs = []
    for cond in conditions:
        try:
            programs.append((cond["name"], env.program(env.compile(cond["expression"]))))
        except celpy.CELParseError as e:
            problems.append(f"{cond['name']}: does not parse: {e}")
    for what, request, want in CEL_CASES:
        activation = {"object": celpy.json_to_cel(request["object"]), "oldObject": celpy.json_to_cel(request["oldObject"]),
                      "request": celpy.json_to_cel(request)}
        results = []
        for name, program in programs:
            try:
                result = program.evaluate(activation)
            except celpy.CELEvalError as e:
                problems.append(f"{what}: {name} fails: {e}")
                continue
            if not isinstance(result, celpy.celtypes.BoolType):
                problems.append(f"{what}: {name} returns {type(result).__name__}, not a bool")
            results.append(bool(result))
        # The API server sends the request only when every condition is true.
        if len(results) == len(programs) and all(results) != want:
            problems.append(f"{what}: {'sent' if all(results) else 'not sent'}, want {'sent' if want else 'not sent'}")
    rep.check("admission matchConditions (CEL)", problems,
              f"{len(programs)} expression(s) evaluated by cel-python {version('cel-python')} on {len(CEL_CASES)} AdmissionRequests: "
              "sent when spec.replicas changes or cannot be read (Scale 3 -> 0 with spec {}), not when it stays, "
              "never scalekeeper's own writes")


# Client-CA cases: (values, the Secret and key mounted as ca.crt, or the error's words).
# Literal expectations, not derived from the values as the invariants are.
CERT_MANAGER = {"enabled": True, "issuerRef": {"name": "scalekeeper-ca"}}
CLIENT_CA_CASES = [
    ("own Secret, no client CA", {}, (f"{RELEASE}-tls", "ca.crt")),
    ("own Secret, dedicated client CA", {"tls": {"clientCA": {"existingSecret": "clients", "key": "bundle.pem"}}}, ("clients", "bundle.pem")),
    ("cert-manager, no client CA", {"tls": {"certManager": CERT_MANAGER}},
     "tls.certManager.enabled needs a client CA of its own: set tls.clientCA.existingSecret"),
    ("cert-manager, shareIssuerCA", {"tls": {"certManager": CERT_MANAGER, "clientCA": {"shareIssuerCA": True}}}, (f"{RELEASE}-tls", "ca.crt")),
    ("cert-manager, dedicated client CA", {"tls": {"certManager": CERT_MANAGER, "clientCA": {"existingSecret": "clients"}}}, ("clients", "ca.crt")),
    ("cert-manager, both", {"tls": {"certManager": CERT_MANAGER, "clientCA": {"existingSecret": "clients", "shareIssuerCA": True}}},
     "tls.clientCA.existingSecret and tls.clientCA.shareIssuerCA are exclusive"),
]


def check_client_ca(rep: Report) -> None:
    import helm_python as helm
    import yaml

    problems = []
    with helm.Chart.load(CHART) as chart:
        for name, values, want in CLIENT_CA_CASES:
            try:
                rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
            except helm.HelmRenderError as e:
                if not isinstance(want, str):
                    problems.append(f"{name}: refused: {e}")
                elif want not in " ".join(str(e).split()):
                    problems.append(f"{name}: refused, but the error does not say {want!r}: {e}")
                continue
            if isinstance(want, str):
                problems.append(f"{name}: rendered; want the error {want!r}")
                continue
            docs = [d for path, t in rendered.items() if path.endswith(".yaml") for d in yaml.safe_load_all(t) if d]
            dep = next(d for d in docs if d.get("kind") == "Deployment")
            pod = dep["spec"]["template"]["spec"]
            sources = next(v for v in pod["volumes"] if v["name"] == "tls")["projected"]["sources"]
            got = [(src["secret"]["name"], item["key"]) for src in sources for item in src["secret"]["items"] if item["path"] == "ca.crt"]
            if got != [want]:
                problems.append(f"{name}: ca.crt comes from {got}, want {[want]}")
            if f"--client-ca={TLS_DIR}/ca.crt" not in pod["containers"][0]["args"]:
                problems.append(f"{name}: no --client-ca={TLS_DIR}/ca.crt")
    rep.check("client CA", problems, f"{len(CLIENT_CA_CASES)} cases: cert-manager needs tls.clientCA.existingSecret or shareIssuerCA; ca.crt mounted from the right Secret")


# Admission cases: (what, values (a dict, or a values file), release namespace, Kubernetes
# version for .Capabilities (None: Helm's default), what must be rendered). "selector" is the
# webhook's one matchExpression (operator, values) or None for no webhook at all;
# "matchConditions" whether they are rendered; "ca" "inject" (cert-manager's annotation),
# "value" (admission.caBundle) or None. Literal expectations, not derived from the values as
# the invariants are. "1.20" renders as tools/render_chart.py --kube-version 1.20 does.
PEM = "-----BEGIN CERTIFICATE-----\nMIIBfTCCASOgAwIBAgIUQ2E=\n-----END CERTIFICATE-----\n"
ADMISSION_CASES = [
    ("defaults (the release namespace alone)", {}, NAMESPACE, None, {"selector": None}),
    ("kube-system and the release namespace", {"watchNamespaces": ["kube-system", NAMESPACE]}, NAMESPACE, None, {"selector": None}),
    ("shop among kube-system and the release namespace", {"watchNamespaces": ["kube-system", "shop", NAMESPACE]}, NAMESPACE, None,
     {"selector": ("In", ["shop"]), "matchConditions": True, "ca": None}),
    ("clusterWide", {"clusterWide": True}, NAMESPACE, None, {"selector": ("NotIn", ["kube-system", NAMESPACE]), "matchConditions": True, "ca": None}),
    ("clusterWide, released into kube-system", {"clusterWide": True}, "kube-system", None,
     {"selector": ("NotIn", ["kube-system"]), "matchConditions": True, "ca": None}),
    ("admission.enabled false", {"watchNamespaces": ["shop"], "admission": {"enabled": False}}, NAMESPACE, None, {"selector": None}),
    ("Kubernetes 1.27 (matchConditions alpha)", {"watchNamespaces": ["shop"]}, NAMESPACE, "v1.27.9",
     {"selector": ("In", ["shop"]), "matchConditions": False, "ca": None}),
    ("Kubernetes 1.28 (matchConditions beta, on)", {"watchNamespaces": ["shop"]}, NAMESPACE, "v1.28.0",
     {"selector": ("In", ["shop"]), "matchConditions": True, "ca": None}),
    ("cert-manager", {"watchNamespaces": ["shop"], "tls": {"certManager": CERT_MANAGER, "clientCA": {"shareIssuerCA": True}}}, NAMESPACE, None,
     {"selector": ("In", ["shop"]), "matchConditions": True, "ca": "inject"}),
    ("admission.caBundle", {"watchNamespaces": ["shop"], "admission": {"caBundle": PEM}}, NAMESPACE, None,
     {"selector": ("In", ["shop"]), "matchConditions": True, "ca": "value"}),
    ("hack/kind-values.yaml", ROOT / "hack" / "kind-values.yaml", NAMESPACE, None,
     {"selector": ("In", ["shop", "payments"]), "matchConditions": True, "ca": None}),
    ("hack/node-values.yaml, render_chart.py --kube-version 1.20", ROOT / "hack" / "node-values.yaml", NAMESPACE, "1.20",
     {"selector": ("In", ["shop", "payments"]), "matchConditions": False, "ca": None}),
]


def check_admission_cases(rep: Report) -> None:  # noqa: C901
    import base64

    import helm_python as helm
    import yaml

    sys.path.insert(0, str(ROOT / "tools"))
    import render_chart

    problems = []
    with helm.Chart.load(CHART) as chart:
        for what, values, ns, kube, want in ADMISSION_CASES:
            if isinstance(values, Path):
                values = yaml.safe_load(values.read_text()) or {}
            kube_version = render_chart.KUBE_VERSIONS.get(kube, kube)
            try:
                objs = render_chart.objects(render_chart.render(chart, values, release=RELEASE, namespace=ns, kube_version=kube_version))
                if kube == "1.20":
                    objs = render_chart.for_kubernetes_1_20(objs)
            except (helm.HelmError, SystemExit) as e:
                problems.append(f"{what}: {e}")
                continue
            vwcs = [o for o in objs if o["kind"] == "ValidatingWebhookConfiguration"]
            dep = next(o for o in objs if o["kind"] == "Deployment")
            args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
            listen = [a for a in args if a.startswith("--admission-listen=")]
            svc = [o for o in objs if o["kind"] == "Service" and o["metadata"]["name"] == f"{RELEASE}-admission"]
            if not any(a.startswith("--default-guard=") for a in args):
                problems.append(f"{what}: no --default-guard")
            if want["selector"] is None:
                if vwcs or listen or svc:
                    problems.append(f"{what}: want no admission webhook; rendered {[ident(o) for o in vwcs + svc]} {listen}")
                continue
            if len(vwcs) != 1 or not listen or len(svc) != 1:
                problems.append(f"{what}: {len(vwcs)} ValidatingWebhookConfigurations, {len(svc)} admission Services, listen {listen}; want one each")
                continue
            hook = vwcs[0]["webhooks"][0]
            op, names = want["selector"]
            sel = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": op, "values": names}]}
            if hook.get("namespaceSelector") != sel:
                problems.append(f"{what}: namespaceSelector {hook.get('namespaceSelector')}, want {sel}")
            if ("matchConditions" in hook) != want["matchConditions"]:
                problems.append(f"{what}: matchConditions {'rendered' if 'matchConditions' in hook else 'left out'} for Kubernetes {kube or 'default'}")
            if vwcs[0]["metadata"]["name"] != f"{ns}-{RELEASE}":
                problems.append(f"{what}: named {vwcs[0]['metadata']['name']}, want {ns}-{RELEASE}")
            inject = (vwcs[0]["metadata"].get("annotations") or {}).get("cert-manager.io/inject-ca-from")
            ca = hook["clientConfig"].get("caBundle")
            got = "inject" if inject else ("value" if ca else None)
            if got != want["ca"] or (inject and inject != f"{ns}/{RELEASE}") or (ca and base64.b64decode(ca).decode() != PEM):
                problems.append(f"{what}: inject-ca-from {inject!r}, caBundle {ca!r}; want {want['ca']}")
    rep.check("admission cases", problems, f"{len(ADMISSION_CASES)} cases: kube-system and the release namespace never guarded, "
              "nothing rendered when nothing is left, caBundle from cert-manager or the value, matchConditions from 1.28 only "
              "(none in render_chart.py --kube-version 1.20)")


def check_lint(rep: Report, sets: dict[str, dict], newest: str) -> None:
    import helm_python as helm

    problems = []
    for name, values in sets.items():
        for kube in (OLDEST_KUBE, newest):
            result = helm.lint(CHART, values, strict=True, namespace=NAMESPACE, kube_version=f"v{kube}")
            for msg in result.get("messages", []):
                if msg.get("severity", 0) >= 2:
                    problems.append(f"{name} (k8s {kube}): {msg.get('path')}: {msg.get('error').strip()}")
            problems += [f"{name} (k8s {kube}): {e.strip()}" for e in result.get("errors", [])]
    rep.check("helm lint", problems, f"{len(sets)} value sets x Kubernetes {OLDEST_KUBE} and {newest}, strict, no warnings")


# ---------------------------------------------------------------------------------------
# Rendering and what is checked on the manifests


def render_all(rep: Report, sets: dict[str, dict]) -> dict[str, tuple[dict, list[dict], str]]:
    """name -> (merged values, objects, NOTES)."""
    import helm_python as helm

    out, problems = {}, []
    with helm.Chart.load(CHART) as chart:
        for name, values in sets.items():
            try:
                rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
            except helm.HelmError as e:
                problems.append(f"{name}: {e}")
                continue
            notes = "".join(v for k, v in rendered.items() if k.endswith("NOTES.txt"))
            objs = []
            for path, text in sorted(rendered.items()):
                if path.endswith(".yaml"):
                    try:
                        objs += load_docs(text)
                    except Exception as e:  # noqa: BLE001
                        problems.append(f"{name}: {path} is not YAML: {e}")
            if not notes.strip():
                problems.append(f"{name}: NOTES.txt rendered empty")
            out[name] = (chart.merge_values(values), objs, notes)
    kinds = sorted({o["kind"] for _, objs, _ in out.values() for o in objs})
    rep.check("render", problems, f"{len(out)} value sets, {sum(len(o) for _, o, _ in out.values())} objects ({', '.join(kinds)}) + NOTES")
    return out


def check_kubernetes_validate(rep: Report, rendered: dict, newest: str) -> None:
    import kubernetes_validate as kv
    import yaml

    problems, validated, skipped = [], 0, {}
    crds = [(f"crds/{n}", yaml.safe_load((CRD_COPY_DIR / n).read_text())) for n in CRD_FILES]
    targets = crds + [(name, o) for name, (_, objs, _) in rendered.items() for o in objs]
    for name, obj in targets:
        key = (obj.get("apiVersion"), obj.get("kind"))
        if key in SKIPPED_KINDS:
            skipped[key[1]] = SKIPPED_KINDS[key]
            continue
        for version in (OLDEST_KUBE, newest):
            try:
                kv.validate(obj, version, strict=True)
                validated += 1
            except kv.ValidationError as e:
                path = "/".join(str(p) for p in e.path)
                problems.append(f"{name}: {ident(obj)} (k8s {version}): {e.message} at {path}")
            except kv.SchemaNotFoundError as e:
                problems.append(f"{name}: {ident(obj)}: {e.message} (not in the explicit skip list)")
    skips = ", ".join(f"{k} ({v})" for k, v in sorted(skipped.items()))
    rep.check(
        "kubernetes-validate --strict",
        problems,
        f"{validated} object validations against {OLDEST_KUBE} and {newest}; skipped kinds: {skips or 'none'}",
    )


ADMISSION_ALERTS = {"ScalekeeperAdmissionFailingOpen", "ScalekeeperAdmissionBreakGlass"}
# A universe of namespaces to try the webhook's namespaceSelector on, besides the managed ones.
OTHER_NAMESPACES = ("default", "kube-public", "team-a")


def admission_invariants(values: dict, by_kind: dict, notes: str, pod_labels: dict, flags: dict) -> list[str]:  # noqa: C901, PLR0912
    """The admission guard of one rendered value set: the flags, its Service, the
    ValidatingWebhookConfiguration (against files/admission-webhook.yaml, its namespaces, its
    caBundle's source) and NOTES. The NetworkPolicy rule and the certificate's names are
    checked with the NetworkPolicy and the Certificate."""
    import base64

    p: list[str] = []
    adm = values["admission"]
    active = admission_active(values, NAMESPACE)
    guarded = guarded_namespaces(values, NAMESPACE)

    # flags: --default-guard always; the webhook's own only when it runs
    if flags.get("--default-guard") != [adm["defaultGuard"]]:
        p.append(f"--default-guard is {flags.get('--default-guard')}, want [{adm['defaultGuard']}]")
    want_flags = {"--admission-listen": [f"{values['listenAddress']}:{ADMISSION_PORT}"] if active else None,
                  "--admission-exempt": (adm["exempt"] or None) if active else None,
                  "--admission-break-glass-group": (adm["breakGlassGroups"] or None) if active else None,
                  "--admission-tls-cert": None, "--admission-tls-key": None}
    for flag, want in want_flags.items():
        if flags.get(flag) != want:
            p.append(f"{flag} is {flags.get(flag)}, want {want}")

    # the Service: ClusterIP, the admission port only, the server pods
    svc = next((s_ for s_ in by_kind.get("Service", []) if s_["metadata"]["name"] == f"{RELEASE}-admission"), None)
    if not active:
        if svc:
            p.append(f"{ident(svc)} rendered, but the admission guard does not run")
    elif not svc:
        p.append(f"no Service {RELEASE}-admission")
    else:
        if svc["spec"].get("type") != "ClusterIP":
            p.append(f"{ident(svc)} is a {svc['spec'].get('type')}, want ClusterIP (the API server calls it from inside)")
        if [(pt["name"], pt["port"], pt["targetPort"]) for pt in svc["spec"]["ports"]] != [("admission", adm["service"]["port"], "admission")]:
            p.append(f"{ident(svc)} ports {svc['spec']['ports']}, want admission {adm['service']['port']} -> admission")
        if not svc["spec"].get("selector") or not selector_matches(svc["spec"]["selector"], pod_labels):
            p.append(f"{ident(svc)} does not select the pods")
    for s_ in by_kind.get("Service", []):
        if s_ is not svc and any(pt.get("targetPort") in ("admission", ADMISSION_PORT) for pt in s_["spec"]["ports"]):
            p.append(f"{ident(s_)} exposes the admission port")

    # the ValidatingWebhookConfiguration
    vwcs = by_kind.get("ValidatingWebhookConfiguration", [])
    if not active:
        if vwcs:
            p.append(f"{[ident(v) for v in vwcs]} rendered, but the admission guard does not run")
        if adm["enabled"] and "NOT RUNNING: nothing to guard" not in notes:
            p.append("NOTES.txt does not say that the admission guard has nothing to guard")
        return p
    if len(vwcs) != 1:
        return p + [f"{len(vwcs)} ValidatingWebhookConfigurations, want 1"]
    vwc = vwcs[0]
    if vwc["metadata"]["name"] != f"{NAMESPACE}-{RELEASE}":
        p.append(f"{ident(vwc)}: want the name {NAMESPACE}-{RELEASE} (cluster-scoped: the release namespace keeps releases apart)")
    if vwc["metadata"]["name"] not in notes:
        p.append("NOTES.txt does not name the ValidatingWebhookConfiguration")
    hooks = vwc.get("webhooks") or []
    if len(hooks) != 1:
        return p + [f"{ident(vwc)} has {len(hooks)} webhooks, want 1"]
    hook = hooks[0]
    doc = admission_file()
    want_hook = dict(doc["webhook"])
    # The chart puts its own condition first: scalekeeper's ServiceAccount (the pods' identity)
    # is never sent.
    pod_sa = by_kind["Deployment"][0]["spec"]["template"]["spec"].get("serviceAccountName")
    want_hook["matchConditions"] = [self_condition(NAMESPACE, pod_sa), *want_hook["matchConditions"]]
    if hook.get("failurePolicy") != "Ignore" or hook.get("sideEffects") != "None":
        p.append(f"failurePolicy {hook.get('failurePolicy')}, sideEffects {hook.get('sideEffects')}: want Ignore (fail open) and None")
    if admission_rules(hook) != ADMISSION_RULES:
        p.append(f"rules select {sorted(admission_rules(hook))}, want {sorted(ADMISSION_RULES)}")
    for key, want in want_hook.items():
        if hook.get(key) != want:
            p.append(f"webhook {key} is {hook.get(key)!r}, files/admission-webhook.yaml says {want!r}")
    extra = set(hook) - set(want_hook) - {"clientConfig", "namespaceSelector", "timeoutSeconds"}
    if extra:
        p.append(f"webhook keys {sorted(extra)} come from neither files/admission-webhook.yaml nor the chart")
    if hook.get("timeoutSeconds") != adm["timeoutSeconds"]:
        p.append(f"timeoutSeconds {hook.get('timeoutSeconds')}, want {adm['timeoutSeconds']}")
    cc = hook.get("clientConfig") or {}
    want_service = {"namespace": NAMESPACE, "name": f"{RELEASE}-admission", "port": adm["service"]["port"], "path": doc["path"]}
    if cc.get("service") != want_service or "url" in cc:
        p.append(f"clientConfig {cc}, want the service {want_service}")

    # namespaceSelector: never kube-system or the release namespace; exactly the guarded ones
    sel = hook.get("namespaceSelector") or {}
    universe = set(values["watchNamespaces"]) | {NAMESPACE, *NEVER_GUARDED, *OTHER_NAMESPACES}
    selected = {n for n in universe if label_selector_selects(sel, {"kubernetes.io/metadata.name": n})}
    want_selected = (universe - {NAMESPACE, *NEVER_GUARDED}) if guarded is None else set(guarded)
    if selected != want_selected:
        p.append(f"namespaceSelector {sel} selects {sorted(selected)} of {sorted(universe)}, want {sorted(want_selected)}")
    if {NAMESPACE, *NEVER_GUARDED} & selected:
        p.append(f"namespaceSelector selects {sorted({NAMESPACE, *NEVER_GUARDED} & selected)}: never kube-system, never the release namespace")

    # caBundle: cert-manager's injector, admission.caBundle, or (offline, no lookup) none and a warning
    annotations = vwc["metadata"].get("annotations") or {}
    inject = annotations.get("cert-manager.io/inject-ca-from")
    if values["tls"]["certManager"]["enabled"]:
        if inject != f"{NAMESPACE}/{RELEASE}" or "caBundle" in cc:
            p.append(f"cert-manager: inject-ca-from {inject!r} and caBundle {'set' if 'caBundle' in cc else 'unset'}, "
                     f"want {NAMESPACE}/{RELEASE} (the Certificate) and no caBundle")
        certs = [c_["metadata"]["name"] for c_ in by_kind.get("Certificate", [])]
        if RELEASE not in certs:
            p.append(f"inject-ca-from names the Certificate {RELEASE}; rendered: {certs}")
    elif adm["caBundle"]:
        if cc.get("caBundle") != base64.b64encode(adm["caBundle"].encode()).decode() or inject:
            p.append("admission.caBundle: clientConfig.caBundle is not its base64 (or an inject-ca-from annotation is set)")
    elif "caBundle" in cc or inject:
        p.append("a caBundle without cert-manager or admission.caBundle (and no cluster to look the Secret up in)")
    elif "WARNING: the webhook has no caBundle" not in notes:
        p.append("no caBundle, and NOTES.txt does not warn that the webhook cannot be verified")
    return p


def invariants(name: str, values: dict, objs: list[dict], notes: str) -> list[str]:  # noqa: C901, PLR0912, PLR0915
    p: list[str] = []
    by_kind: dict[str, list[dict]] = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
        p += labels_ok(o)
        ns = o.get("metadata", {}).get("namespace")
        if o["kind"] not in CLUSTER_SCOPED and not ns:
            p.append(f"{ident(o)}: no namespace")
    names = [ident(o) for o in objs]
    p += [f"{n} rendered twice" for n in sorted({n for n in names if names.count(n) > 1})]

    deps = by_kind.get("Deployment", [])
    if len(deps) != 1:
        return p + [f"{len(deps)} Deployments rendered"]
    dep = deps[0]
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    ctrs = pod["containers"]
    c = ctrs[0]
    args = c.get("args", [])
    flags = {}
    for a in args[1:]:
        k, _, v = a.partition("=")
        flags.setdefault(k, []).append(v)
    cluster_wide = values["clusterWide"]
    admission = admission_active(values, NAMESPACE)

    # rollout and replicas
    ru = spec.get("strategy", {}).get("rollingUpdate", {})
    if spec.get("strategy", {}).get("type") != "RollingUpdate" or ru.get("maxUnavailable") != 0 or ru.get("maxSurge") != 1:
        p.append(f"strategy is {spec.get('strategy')}, want RollingUpdate maxUnavailable 0 / maxSurge 1")
    if spec.get("replicas") != values["replicas"]:
        p.append(f"replicas {spec.get('replicas')} != {values['replicas']}")
    if not selector_matches(spec["selector"]["matchLabels"], pod_labels):
        p.append("the Deployment selector does not match its pod labels")

    # shutdown: preStop sleep, drain, grace
    drain_flag = flags.get("--drain-timeout", ["20s"])[0]
    drain = int(drain_flag.removesuffix("s")) if drain_flag.removesuffix("s").isdigit() else -1
    if drain != values["config"]["drainTimeoutSeconds"]:
        p.append(f"--drain-timeout={drain_flag}, values say {values['config']['drainTimeoutSeconds']} (seconds)")
    pre = ((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get("seconds", 0)
    if pre != values["shutdown"]["preStopSleepSeconds"]:
        p.append(f"preStop sleep {pre}s, values say {values['shutdown']['preStopSleepSeconds']}s")
    if (c.get("lifecycle") or {}).get("preStop", {}).get("exec"):
        p.append("preStop exec: the image has no shell")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if not grace > pre + drain:
        p.append(f"terminationGracePeriodSeconds {grace} <= preStop {pre} + drain {drain}")

    # security
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    if pod.get("automountServiceAccountToken") is not True:
        p.append("automountServiceAccountToken is not true (scalekeeper calls the API)")
    for where, sc in (("pod", psc), ("container", csc)):
        if sc.get("runAsNonRoot") is not True:
            p.append(f"{where} runAsNonRoot is not true")
        if sc.get("runAsUser", 1) == 0:
            p.append(f"{where} runs as uid 0")
        if (sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            p.append(f"{where} seccompProfile is not RuntimeDefault")
    if csc.get("readOnlyRootFilesystem") is not True:
        p.append("readOnlyRootFilesystem is not true")
    if csc.get("allowPrivilegeEscalation") is not False:
        p.append("allowPrivilegeEscalation is not false")
    if (csc.get("capabilities") or {}).get("drop") != ["ALL"] or (csc.get("capabilities") or {}).get("add"):
        p.append(f"capabilities are {csc.get('capabilities')}, want drop [ALL]")
    for k in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(k):
            p.append(f"{k} is set")
    res = c.get("resources", {})
    for part in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in (res.get(part) or {}):
                p.append(f"no {part}.{r}")

    # ports, probes, env, TLS
    ports = {pt["name"]: pt["containerPort"] for pt in c.get("ports", [])}
    want_ports = {"grpc": 50051, "http": 8080} | ({"admission": ADMISSION_PORT} if admission else {})
    if ports != want_ports:
        p.append(f"container ports {ports}, want {want_ports}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        hg = (c.get(probe) or {}).get("httpGet", {})
        if hg.get("path") != path or hg.get("port") != "http":
            p.append(f"{probe} is {hg}, want GET {path} on port http")
    env = {e["name"]: e for e in c.get("env", [])}
    for var, field in (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")):
        if ((env.get(var) or {}).get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath") != field:
            p.append(f"{var} does not come from {field}")
    for flag, file in (("--tls-cert", "tls.crt"), ("--tls-key", "tls.key"), ("--client-ca", "ca.crt")):
        if flags.get(flag) != [f"{TLS_DIR}/{file}"]:
            p.append(f"{flag} is {flags.get(flag)}, want {TLS_DIR}/{file}")
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    if TLS_DIR not in mounts or not mounts[TLS_DIR].get("readOnly"):
        p.append(f"{TLS_DIR} is not mounted read-only")
    else:
        vol = next((v for v in pod.get("volumes", []) if v["name"] == mounts[TLS_DIR]["name"]), {})
        files = {}
        for src in (vol.get("projected") or {}).get("sources", []):
            for item in src.get("secret", {}).get("items", []):
                files[item["path"]] = (src["secret"]["name"], item["key"])
        tls_secret = values["tls"]["existingSecret"] or f"{RELEASE}-tls"
        client_ca = values["tls"]["clientCA"]
        want = {"tls.crt": (tls_secret, "tls.crt"), "tls.key": (tls_secret, "tls.key"),
                "ca.crt": (client_ca["existingSecret"] or tls_secret, client_ca["key"])}
        if values["tls"]["certManager"]["enabled"] and not client_ca["existingSecret"] and not client_ca["shareIssuerCA"]:
            p.append("cert-manager's ca.crt (the issuer's CA) is the client CA without tls.clientCA.shareIssuerCA")
        crl_secret = values["tls"].get("clientCRLSecret")
        if crl_secret:
            want["ca.crl"] = (crl_secret, values["tls"]["clientCRLKey"])
        if flags.get("--client-crl") != ([f"{TLS_DIR}/ca.crl"] if crl_secret else None):
            p.append(f"--client-crl is {flags.get('--client-crl')}, want {TLS_DIR}/ca.crl only with tls.clientCRLSecret")
        if files != want:
            p.append(f"the TLS volume holds {files}, want {want}")
        if mounts[TLS_DIR].get("subPath"):
            p.append("the TLS volume is mounted with subPath (never updated in place)")
    image = c["image"]
    tag = values["image"]["tag"] or "0.1.0"
    want_image = f"{values['image']['repository']}:{tag}" + (f"@{values['image']['digest']}" if values["image"]["digest"] else "")
    if image != want_image:
        p.append(f"image {image}, want {want_image}")

    # scheduling
    tsc = pod.get("topologySpreadConstraints") or []
    if values["topologySpread"]["enabled"] and not any(t.get("topologyKey") == "topology.kubernetes.io/zone" for t in tsc):
        p.append("no topology spread across zones")
    anti = ((pod.get("affinity") or {}).get("podAntiAffinity") or {})
    mode = values["podAntiAffinity"]
    terms = anti.get("preferredDuringSchedulingIgnoredDuringExecution" if mode == "preferred" else "requiredDuringSchedulingIgnoredDuringExecution", [])
    if mode != "none":
        keys = [(t.get("podAffinityTerm") or t).get("topologyKey") for t in terms]
        if keys != ["kubernetes.io/hostname"]:
            p.append(f"podAntiAffinity ({mode}) topology keys {keys}, want [kubernetes.io/hostname]")

    # namespaces and RBAC
    want_ns = [] if cluster_wide else (list(dict.fromkeys(values["watchNamespaces"])) or [NAMESPACE])
    if flags.get("--namespace", []) != want_ns:
        p.append(f"--namespace flags {flags.get('--namespace', [])}, want {want_ns}")
    sa = pod.get("serviceAccountName")
    # The callers' ClusterRoles (bound to nobody) and the auth-delegator binding (for
    # SubjectAccessReviews) are checked on their own; the rest is scalekeeper's own access.
    user_role_names = {f"{RELEASE}-{role}": rules for role, rules in user_role_rules().items()}
    server = server_rules()
    managed_rules, lease_rules = server["managed"], server["leaderElection"]
    user_roles = [r for r in by_kind.get("ClusterRole", []) if r["metadata"]["name"] in user_role_names]
    cluster_roles = [r for r in by_kind.get("ClusterRole", []) if r["metadata"]["name"] not in user_role_names]
    roles = by_kind.get("Role", [])
    delegators = [b for b in by_kind.get("ClusterRoleBinding", []) if b["roleRef"]["name"] == "system:auth-delegator"]
    bindings = by_kind.get("RoleBinding", []) + [b for b in by_kind.get("ClusterRoleBinding", []) if b not in delegators]
    want_delegator = values["rbac"]["create"] and values["config"]["authorization"] == "rbac"
    if len(delegators) != (1 if want_delegator else 0):
        p.append(f"{len(delegators)} ClusterRoleBindings to system:auth-delegator, want {1 if want_delegator else 0}")
    for b in delegators:
        if b["subjects"] != [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]:
            p.append(f"{ident(b)} is not bound to exactly the ServiceAccount {NAMESPACE}/{sa}")
    if values["rbac"]["userRoles"]:
        if sorted(r["metadata"]["name"] for r in user_roles) != sorted(user_role_names):
            p.append(f"user ClusterRoles {[ident(r) for r in user_roles]}, want {sorted(user_role_names)}")
        for r in user_roles:
            want = user_role_names[r["metadata"]["name"]]
            if rules_of(r) != want:
                p.append(f"{ident(r)}: {rules_diff(rules_of(r), want)}")
            if any(b["roleRef"]["name"] == r["metadata"]["name"] for b in by_kind.get("RoleBinding", []) + by_kind.get("ClusterRoleBinding", [])):
                p.append(f"{ident(r)} is bound by the chart; it must be bound to nobody")
    elif user_roles:
        p.append("user ClusterRoles rendered with rbac.userRoles false")
    for o in cluster_roles + roles:
        for rule in o.get("rules", []):
            if "*" in rule.get("verbs", []) + rule.get("resources", []) + rule.get("apiGroups", []):
                p.append(f"{ident(o)} has a wildcard rule {rule}")
    if not values["rbac"]["create"]:
        if cluster_roles or roles or bindings:
            p.append("RBAC objects rendered with rbac.create false")
    elif cluster_wide:
        if len(cluster_roles) != 1:
            p.append(f"clusterWide: {len(cluster_roles)} ClusterRoles, want 1")
        elif rules_of(cluster_roles[0]) != managed_rules:
            p.append(f"{ident(cluster_roles[0])}: {rules_diff(rules_of(cluster_roles[0]), managed_rules)} (files/server-rules.yaml, managed)")
        managed_roles = [r for r in roles if rules_of(r) != lease_rules]
        if managed_roles:
            p.append(f"clusterWide renders namespaced Roles too: {[ident(r) for r in managed_roles]}")
    else:
        if cluster_roles or [b for b in by_kind.get("ClusterRoleBinding", []) if b not in delegators]:
            p.append("a ClusterRole/ClusterRoleBinding of scalekeeper's own is rendered without clusterWide")
        managed = {r["metadata"]["namespace"]: rules_of(r) for r in roles if rules_of(r) != lease_rules}
        if sorted(managed) != sorted(want_ns):
            p.append(f"managed Roles in {sorted(managed)}, want {sorted(want_ns)}")
        for ns, rules in managed.items():
            if rules != managed_rules:
                p.append(f"Role in {ns}: {rules_diff(rules, managed_rules)} (files/server-rules.yaml, managed)")
    lease_roles = [r for r in roles if rules_of(r) == lease_rules]
    if values["config"]["leaderElect"] and values["rbac"]["create"]:
        if [r["metadata"]["namespace"] for r in lease_roles] != [NAMESPACE]:
            p.append(f"want one Lease Role in {NAMESPACE}, got {[ident(r) for r in lease_roles]}")
    elif lease_roles:
        p.append("a Lease Role without leader election")
    for r in cluster_roles + roles:
        kind = r["kind"]
        bound = [b for b in bindings if b["roleRef"]["name"] == r["metadata"]["name"] and b["roleRef"]["kind"] == kind
                 and b["metadata"].get("namespace") == r["metadata"].get("namespace")]
        if len(bound) != 1 or bound[0]["subjects"] != [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]:
            p.append(f"{ident(r)} is not bound to exactly the ServiceAccount {NAMESPACE}/{sa}")
    if len(bindings) != len(cluster_roles) + len(roles):
        p.append(f"{len(bindings)} bindings for {len(cluster_roles) + len(roles)} roles")

    # Services
    svcs = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    api = svcs.get(RELEASE)
    metrics = svcs.get(f"{RELEASE}-metrics")
    if not api or not metrics:
        return p + [f"Services {sorted(svcs)}, want {RELEASE} and {RELEASE}-metrics"]
    for s in (api, metrics):
        if not selector_matches(s["spec"]["selector"], pod_labels) or not s["spec"]["selector"]:
            p.append(f"{ident(s)} does not select the pods")
    if [(pt["name"], pt["targetPort"]) for pt in api["spec"]["ports"]] != [("grpc", "grpc")]:
        p.append(f"{ident(api)} ports {api['spec']['ports']}, want only grpc (the plaintext port stays internal)")
    if api["spec"]["type"] != values["service"]["type"]:
        p.append(f"{ident(api)} type {api['spec']['type']}")
    if values["service"]["type"] == "LoadBalancer":
        if api["spec"].get("loadBalancerSourceRanges", []) != values["service"]["loadBalancerSourceRanges"]:
            p.append("loadBalancerSourceRanges not rendered")
        for k, v in values["service"]["annotations"].items():
            if api["metadata"].get("annotations", {}).get(k) != v:
                p.append(f"Service annotation {k} not rendered")
    if metrics["spec"]["type"] != "ClusterIP" or [(pt["name"], pt["targetPort"]) for pt in metrics["spec"]["ports"]] != [("http", "http")]:
        p.append(f"{ident(metrics)} must be a ClusterIP with the http port only")
    if set(svcs) - {RELEASE, f"{RELEASE}-metrics", f"{RELEASE}-admission"}:
        p.append(f"unexpected Services {sorted(set(svcs) - {RELEASE, f'{RELEASE}-metrics', f'{RELEASE}-admission'})}")
    p += admission_invariants(values, by_kind, notes, pod_labels, flags)

    # Ingress
    ings = by_kind.get("Ingress", [])
    if values["ingress"]["enabled"]:
        if len(ings) != 1:
            p.append(f"{len(ings)} Ingresses")
        else:
            ann = ings[0]["metadata"].get("annotations", {})
            if ann.get("nginx.ingress.kubernetes.io/ssl-passthrough") != "true" or ann.get("nginx.ingress.kubernetes.io/backend-protocol") != "GRPCS":
                p.append(f"Ingress annotations {ann}: want ssl-passthrough true and backend-protocol GRPCS")
            if ings[0]["spec"].get("tls"):
                p.append("the passthrough Ingress has a tls section (it would terminate TLS)")
            backend = ings[0]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
            if backend != {"name": RELEASE, "port": {"name": "grpc"}}:
                p.append(f"Ingress backend {backend}")
    elif ings:
        p.append("an Ingress without ingress.enabled")

    # PDB
    pdbs = by_kind.get("PodDisruptionBudget", [])
    if values["podDisruptionBudget"]["enabled"]:
        if len(pdbs) != 1:
            p.append(f"{len(pdbs)} PodDisruptionBudgets")
        else:
            ps = pdbs[0]["spec"]
            want = {"minAvailable": 1} if values["replicas"] > 1 else {"maxUnavailable": 1}
            got = {k: ps[k] for k in ("minAvailable", "maxUnavailable") if k in ps}
            if got != want:
                p.append(f"PDB {got}, want {want}")
            if not selector_matches(ps["selector"]["matchLabels"], pod_labels):
                p.append("the PDB does not select the pods")

    # NetworkPolicy
    nps = by_kind.get("NetworkPolicy", [])
    npv = values["networkPolicy"]
    if npv["enabled"]:
        if len(nps) != 1:
            p.append(f"{len(nps)} NetworkPolicies")
        else:
            ns_spec = nps[0]["spec"]
            if sorted(ns_spec.get("policyTypes", [])) != ["Egress", "Ingress"]:
                p.append("the NetworkPolicy does not govern both directions")
            if not selector_matches(ns_spec["podSelector"]["matchLabels"], pod_labels):
                p.append("the NetworkPolicy does not select the pods")
            ingress, rules_by_port = {}, {}
            for rule in ns_spec.get("ingress") or []:
                if not rule.get("ports"):
                    p.append(f"an ingress rule without ports: {rule}")
                for port in rule.get("ports", []):
                    ingress.setdefault(port["port"], []).extend(rule.get("from", []))
                    rules_by_port.setdefault(port["port"], []).append(rule)
            if set(ingress) - {"grpc", "http", "admission"}:
                p.append(f"ingress opens ports {sorted(map(str, ingress))}")
            for port, rules_ in rules_by_port.items():
                if port != "admission" and any("from" not in r for r in rules_):
                    p.append(f"port {port} is admitted from any source (a rule without from)")
            # The admission port: from admissionFrom, or (empty) any source, and alone in its rule.
            adm_rules = rules_by_port.get("admission", [])
            if not admission:
                if adm_rules:
                    p.append("the admission port is admitted without the admission webhook")
            elif len(adm_rules) != 1:
                p.append(f"{len(adm_rules)} ingress rules for the admission port, want 1")
            else:
                r = adm_rules[0]
                if [pt.get("port") for pt in r["ports"]] != ["admission"] or r["ports"][0].get("protocol", "TCP") != "TCP":
                    p.append(f"the admission rule opens {r['ports']}, want the admission port (TCP) alone")
                if r.get("from") != (npv["admissionFrom"] or None):
                    p.append(f"the admission port is admitted from {r.get('from', 'any source')}, want {npv['admissionFrom'] or 'any source'}")
            if ingress.get("grpc", []) != npv["grpcFrom"]:
                p.append(f"gRPC admitted from {ingress.get('grpc')}, want {npv['grpcFrom']}")
            want_http = npv["metricsFrom"] + [{"ipBlock": {"cidr": c_}} for c_ in npv["kubeletCIDRs"]]
            if ingress.get("http", []) != want_http:
                p.append(f"HTTP admitted from {ingress.get('http')}, want {want_http}")
            egress_ports = set()
            for rule in ns_spec.get("egress") or []:
                if not rule.get("ports"):
                    p.append(f"an egress rule without ports: {rule}")
                for port in rule.get("ports", []):
                    egress_ports.add((port["port"], port.get("protocol", "TCP")))
            want_eg = {(pt, "TCP") for pt in npv["apiServerPorts"]} | {(53, "UDP"), (53, "TCP")}
            if egress_ports != want_eg:
                p.append(f"egress ports {sorted(egress_ports)}, want {sorted(want_eg)}")
    elif nps:
        p.append("a NetworkPolicy without networkPolicy.enabled")

    # TLS via cert-manager
    certs = by_kind.get("Certificate", [])
    if values["tls"]["certManager"]["enabled"]:
        if len(certs) != 1:
            p.append(f"{len(certs)} Certificates")
        else:
            cs = certs[0]["spec"]
            if cs["secretName"] != f"{RELEASE}-tls":
                p.append(f"Certificate writes {cs['secretName']}, the pods mount {RELEASE}-tls")
            for dns in (RELEASE, f"{RELEASE}.{NAMESPACE}.svc", f"{RELEASE}.{NAMESPACE}.svc.{values['clusterDomain']}"):
                if dns not in cs["dnsNames"]:
                    p.append(f"Certificate lacks {dns}")
            # The admission webhook serves the same certificate: the API server dials <svc>.<ns>.svc.
            adm_dns = [f"{RELEASE}-admission", f"{RELEASE}-admission.{NAMESPACE}", f"{RELEASE}-admission.{NAMESPACE}.svc",
                       f"{RELEASE}-admission.{NAMESPACE}.svc.{values['clusterDomain']}"]
            present = [d for d in adm_dns if d in cs["dnsNames"]]
            if present != (adm_dns if admission else []):
                p.append(f"Certificate names {present} of the admission Service, want {adm_dns if admission else 'none'}")
            if values["ingress"]["enabled"] and values["ingress"]["host"] not in cs["dnsNames"]:
                p.append("Certificate lacks the Ingress host")
            if "server auth" not in cs.get("usages", []) or "client auth" in cs.get("usages", []):
                p.append(f"Certificate usages {cs.get('usages')}")
            if cs["privateKey"]["algorithm"] != values["tls"]["certManager"]["privateKey"]["algorithm"]:
                p.append("Certificate private key algorithm")
            for k in ("name", "kind", "group"):
                if cs["issuerRef"].get(k) != values["tls"]["certManager"]["issuerRef"][k]:
                    p.append(f"Certificate issuerRef.{k}")
    elif certs:
        p.append("a Certificate without tls.certManager.enabled")

    # monitoring objects
    sms = by_kind.get("ServiceMonitor", [])
    if values["metrics"]["serviceMonitor"]["enabled"]:
        if len(sms) != 1:
            p.append(f"{len(sms)} ServiceMonitors")
        else:
            sm = sms[0]["spec"]
            others = [s_ for n_, s_ in svcs.items() if n_ != metrics["metadata"]["name"]]
            if not selector_matches(sm["selector"]["matchLabels"], metrics["metadata"]["labels"]) or any(
                    selector_matches(sm["selector"]["matchLabels"], o_["metadata"]["labels"]) for o_ in others):
                p.append("the ServiceMonitor must select the metrics Service and neither the gRPC nor the admission one")
            if [e["port"] for e in sm["endpoints"]] != ["http"]:
                p.append("the ServiceMonitor does not scrape the http port")
    elif sms:
        p.append("a ServiceMonitor without metrics.serviceMonitor.enabled")
    rules = by_kind.get("PrometheusRule", [])
    if bool(rules) != values["metrics"]["prometheusRule"]["enabled"]:
        p.append(f"{len(rules)} PrometheusRules, enabled={values['metrics']['prometheusRule']['enabled']}")
    adm_alerts = {r["alert"] for o in rules for g in o["spec"]["groups"] for r in g["rules"]} & ADMISSION_ALERTS
    if rules and adm_alerts != (ADMISSION_ALERTS if admission else set()):
        p.append(f"admission alerts {sorted(adm_alerts)}, want {sorted(ADMISSION_ALERTS) if admission else 'none'} (the guard {'runs' if admission else 'does not run'})")
    cms = [o for o in by_kind.get("ConfigMap", []) if o["metadata"]["name"].endswith("-dashboard")]
    if values["metrics"]["dashboard"]["enabled"]:
        if len(cms) != 1:
            p.append(f"{len(cms)} dashboard ConfigMaps")
        else:
            cm = cms[0]
            if cm["metadata"]["labels"].get("grafana_dashboard") != "1":
                p.append("the dashboard ConfigMap lacks grafana_dashboard: \"1\"")
            if cm["data"].get("scalekeeper.json") != (CHART / "dashboards" / "scalekeeper.json").read_text().rstrip("\n"):
                p.append("the dashboard ConfigMap differs from dashboards/scalekeeper.json")
            want_ns = values["metrics"]["dashboard"]["namespace"] or NAMESPACE
            if cm["metadata"]["namespace"] != want_ns:
                p.append(f"dashboard ConfigMap in {cm['metadata']['namespace']}, want {want_ns}")
    elif cms:
        p.append("a dashboard ConfigMap without metrics.dashboard.enabled")

    if RELEASE not in notes or "crds/" not in notes:
        p.append("NOTES.txt does not say how to reach the service and upgrade the CRD")
    return [f"{name}: {x}" for x in p]


def check_invariants(rep: Report, rendered: dict) -> None:
    problems = []
    for name, (values, objs, notes) in rendered.items():
        problems += invariants(name, values, objs, notes)
    rep.check(
        "invariants",
        problems,
        f"{len(rendered)} value sets: maxUnavailable 0, grace > preStop + drain, non-root read-only, RBAC rules == files/server-rules.yaml, "
        "ClusterRole only when clusterWide, auth-delegator, user roles bound to nobody, namespaces, Services, PDB, NetworkPolicy, TLS, monitoring, "
        "admission webhook (== files/admission-webhook.yaml, never kube-system or the release namespace, its Service, port, flags, caBundle)",
    )


def check_promql(rep: Report, rendered: dict) -> None:
    known = metric_names()
    label_values = metric_label_values()
    problems, exprs, seen = [], 0, set()
    alerts = set()

    def check_expr(where: str, expr: str) -> None:
        nonlocal exprs
        exprs += 1
        try:
            used = promql_selectors(expr)
        except ValueError as e:
            problems.append(f"{where}: does not parse: {e}: {expr}")
            return
        for m, matchers in used:
            seen.add(m)
            if m != "up" and m not in known:
                problems.append(f"{where}: unknown metric {m}")
            # A label value the binary never exports matches nothing, silently.
            for label, op, value in matchers:
                values = label_values.get(m, {}).get(label)
                if values is None:
                    continue
                alternatives = value.split("|") if op in ("=~", "!~") and re.fullmatch(r"[A-Za-z0-9_|]+", value) else [value]
                if op in ("=~", "!~") and alternatives == [value] and not re.fullmatch(r"[A-Za-z0-9_]+", value):
                    continue  # a real regular expression: not checked
                unknown = [a for a in alternatives if a not in values]
                if unknown:
                    problems.append(f"{where}: {m}{{{label}{op}\"{value}\"}}: {unknown} not among the values metrics.rs lists ({sorted(values)})")

    for name, (_, objs, _) in rendered.items():
        for o in objs:
            if o["kind"] != "PrometheusRule":
                continue
            for group in o["spec"]["groups"]:
                for rule in group["rules"]:
                    alerts.add(rule["alert"])
                    check_expr(f"{name}: alert {rule['alert']}", rule["expr"])
                    if rule["labels"].get("severity") not in ("critical", "warning", "info"):
                        problems.append(f"{name}: alert {rule['alert']} has no severity")
    dashboard = json.loads((CHART / "dashboards" / "scalekeeper.json").read_text())
    substitutions = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    for panel in panels:
        if not panel.get("targets"):
            problems.append(f"dashboard panel {panel['title']!r} has no query")
        for t in panel.get("targets", []):
            expr = t["expr"]
            for k, v in substitutions.items():
                expr = expr.replace(k, v)
            check_expr(f"dashboard panel {panel['title']!r}", expr)
    ids = [p["id"] for p in dashboard["panels"]]
    if len(ids) != len(set(ids)):
        problems.append("dashboard panel ids repeat")
    want_alerts = {"ScalekeeperDown", "ScalekeeperNotReady", "ScalekeeperNoLeader", "ScalekeeperDriftNotCorrected",
                   "ScalekeeperConflicts", "ScalekeeperFlapGuardTripped", "ScalekeeperGrpcErrors",
                   "ScalekeeperGrpcLatencyHigh", "ScalekeeperReconcileErrors", "ScalekeeperCertificateExpiresSoon",
                   "ScalekeeperTlsReloadFailing", "ScalekeeperLimitRefusing", "ScalekeeperHoldOld",
                   "ScalekeeperScaleRequestWaiting", "ScalekeeperBreakGlassUnreviewed"} | ADMISSION_ALERTS
    if not want_alerts <= alerts:
        problems.append(f"alerts missing: {sorted(want_alerts - alerts)}")
    unused = sorted(m for m in known if m not in seen and not m.endswith(("_sum", "_count")))
    if unused:
        problems.append(f"metrics neither alerted on nor on the dashboard: {unused}")
    rep.check("PromQL", problems, f"{exprs} expressions parse ({len(alerts)} alerts, {len(panels)} dashboard panels); every metric, and every label value "
              f"of {len(label_values)} series whose values it lists, exists in metrics.rs")


def check_binary_flags(rep: Report, rendered: dict, binary: Path | None) -> None:
    if binary is None or not binary.exists():
        rep.skip("flags accepted by scalekeeper serve", "target/debug/scalekeeper is not built (`make test` builds it first)")
        return
    problems, runs = [], 0
    for name, (_, objs, _) in rendered.items():
        dep = next(o for o in objs if o["kind"] == "Deployment")
        args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KUBECONFIG": "/nonexistent/kubeconfig",
               "POD_NAME": "scalekeeper-0", "POD_NAMESPACE": NAMESPACE}
        # Parsing and the flag checks run before the Kubernetes client is built: an error
        # about the missing kubeconfig means every flag and value was accepted.
        r = subprocess.run([str(binary), *args], env=env, capture_output=True, text=True, timeout=30, check=False)
        runs += 1
        if r.returncode == 2 or "no kubeconfig and not in a cluster" not in r.stderr:
            problems.append(f"{name}: exit {r.returncode}: {r.stderr.strip()[:400]}")
    rep.check("flags accepted by scalekeeper serve", problems, f"{runs} rendered argument lists parsed by {binary.relative_to(ROOT)}")


def checkov_skips() -> tuple[list[str], list[str]]:
    """The skipped check ids, and skips without a justification comment."""
    lines = CHECKOV_CONFIG.read_text().splitlines()
    ids, unjustified = [], []
    for i, line in enumerate(lines):
        m = re.match(r"^\s*-\s*(CKV2?_K8S_\d+)\s*(#.*)?$", line)
        if m:
            ids.append(m.group(1))
            comment_above = i > 0 and lines[i - 1].strip().startswith("#")
            if not m.group(2) and not comment_above:
                unjustified.append(m.group(1))
    return ids, unjustified


def check_checkov(rep: Report, rendered: dict, checkov: Path | None, workdir: Path) -> None:
    import yaml

    if checkov is None or not checkov.exists():
        rep.check("checkov", [f"checkov not found at {checkov}: run `make chart-validate`"], "")
        return
    skips, unjustified = checkov_skips()
    problems = [f"skip {s} has no justification comment in {CHECKOV_CONFIG.relative_to(ROOT)}" for s in unjustified]
    out = workdir / "manifests"
    out.mkdir(parents=True, exist_ok=True)
    for name, (_, objs, _) in rendered.items():
        (out / f"{name}.yaml").write_text(yaml.safe_dump_all(objs, sort_keys=False))
    cmd = [str(checkov), "-d", str(out), "--framework", "kubernetes", "--skip-download", "--config-file",
           str(CHECKOV_CONFIG), "-o", "json", "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False, cwd=workdir)
    try:
        data = json.loads(r.stdout)
    except json.JSONDecodeError:
        rep.check("checkov", [f"exit {r.returncode}, no JSON report: {r.stderr.strip()[-800:]} {r.stdout.strip()[-800:]}"], "")
        return
    reports = data if isinstance(data, list) else [data]
    passed = failed = 0
    for report in reports:
        summary = report.get("summary", {})
        passed += summary.get("passed", 0)
        failed += summary.get("failed", 0)
        for f in report.get("results", {}).get("failed_checks", []):
            problems.append(f"{f['check_id']} {f['check_name']}: {f['resource']} ({Path(f['file_path']).name})")
    if failed == 0 and r.returncode != 0:
        problems.append(f"checkov exited {r.returncode}: {r.stderr.strip()[-400:]}")
    if passed == 0:
        problems.append("checkov ran no check")
    rep.check("checkov", problems, f"{passed} checks passed on {len(rendered)} rendered value sets; {len(skips)} skipped with reasons in {CHECKOV_CONFIG.relative_to(ROOT)}: {', '.join(skips)}")


def check_package(rep: Report, workdir: Path) -> None:
    import tarfile

    import helm_python as helm

    problems = []
    archive = helm.package(CHART, destination=workdir)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    for must in ("scalekeeper/Chart.yaml", "scalekeeper/values.schema.json", *(f"scalekeeper/crds/{n}" for n in CRD_FILES),
                 "scalekeeper/files/user-roles.yaml", "scalekeeper/files/server-rules.yaml", "scalekeeper/files/admission-webhook.yaml",
                 "scalekeeper/dashboards/scalekeeper.json", "scalekeeper/README.md", "scalekeeper/templates/NOTES.txt"):
        if must not in names:
            problems.append(f"{must} is not packaged")
    for n in names:
        if n.startswith(("scalekeeper/ci/", "scalekeeper/tests/")):
            problems.append(f"{n} is packaged (.helmignore)")
    rep.check("helm package", problems, f"{Path(archive).name}: {len(names)} files, crds/, dashboards/ and files/ in, ci/ and tests/ out")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write-readme", action="store_true", help="regenerate the README's value and RBAC tables and exit")
    parser.add_argument("--lint-only", action="store_true",
                        help="metadata, CRD, schema, README, bad values, user and server roles, deployer RBAC, client CA, admission, helm lint")
    parser.add_argument("--checkov", type=Path, default=ROOT / ".venv-checkov" / "bin" / "checkov")
    parser.add_argument("--scalekeeper-bin", type=Path, default=ROOT / "target" / "debug" / "scalekeeper")
    parser.add_argument("--keep", type=Path, help="write the rendered manifests here instead of a temporary directory")
    args = parser.parse_args()
    args.checkov = args.checkov.absolute()
    args.scalekeeper_bin = args.scalekeeper_bin.absolute()
    if args.write_readme:
        return write_readme()

    import helm_python as helm
    import kubernetes_validate.utils as kvu

    helm.disable_logging()
    started = time.monotonic()
    newest = kvu.latest_version()
    rep = Report()
    check_metadata(rep)
    check_crd(rep)
    schema = check_schema(rep)
    check_readme(rep, schema)
    check_bad_values(rep)
    check_user_roles(rep)
    check_server_rules(rep)
    check_client_ca(rep)
    check_admission_file(rep)
    check_admission_cel(rep)
    check_admission_cases(rep)
    sets = value_sets()
    check_deployer_rbac(rep, sets)
    check_lint(rep, sets, newest)
    if not args.lint_only:
        rendered = render_all(rep, sets)
        check_kubernetes_validate(rep, rendered, newest)
        check_invariants(rep, rendered)
        check_promql(rep, rendered)
        check_binary_flags(rep, rendered, args.scalekeeper_bin)
        with tempfile.TemporaryDirectory(prefix="chart-validate-") as tmp:
            workdir = args.keep or Path(tmp)
            workdir.mkdir(parents=True, exist_ok=True)
            check_checkov(rep, rendered, args.checkov, workdir)
            check_package(rep, workdir)
    print(f"value sets: {', '.join(sets)} ({time.monotonic() - started:.1f}s)")
    print(f"chart: {rep.passed} passed, {rep.failed} failed" + (f", {rep.skipped} skipped" if rep.skipped else ""))
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
