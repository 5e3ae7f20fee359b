//! Steps 1 and 3 of the pipeline: removing non-nullable `null`s without a
//! default (`PruneNonNullableNullsWithoutDefaults`) and pruning fields the
//! schema does not declare (`pruning.Prune`).

use serde_json::Value;

use super::{Additional, additional, default_of, field_schema, flag, is_meta_field, items, nullable, property};

// ---------------------------------------------------------------------------
// Step 1: PruneNonNullableNullsWithoutDefaults
// ---------------------------------------------------------------------------

pub(super) fn prune_nulls(x: &mut Value, s: Option<&Value>, root: bool) {
    match x {
        Value::Object(m) => m.retain(|k, v| {
            if root && is_meta_field(k) {
                return true;
            }
            let sub = field_schema(s, k);
            if v.is_null() {
                return !sub.is_some_and(|sub| !nullable(sub) && default_of(sub).is_none());
            }
            prune_nulls(v, sub, false);
            true
        }),
        Value::Array(a) => {
            let it = s.and_then(items);
            for v in a {
                prune_nulls(v, it, false);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Step 3: Prune
// ---------------------------------------------------------------------------

pub(super) fn prune(x: &mut Value, s: Option<&Value>, root: bool) {
    if let Some(s) = s
        && flag(s, "x-kubernetes-preserve-unknown-fields")
    {
        skip_prune(x, s, root);
        return;
    }
    match x {
        Value::Object(m) => {
            let Some(s) = s else {
                m.clear();
                return;
            };
            let embedded = root || flag(s, "x-kubernetes-embedded-resource");
            m.retain(|k, v| {
                if embedded && is_meta_field(k) {
                    return true;
                }
                if let Some(p) = property(s, k) {
                    prune(v, Some(p), false);
                    return true;
                }
                match additional(s) {
                    Additional::Schema(ap) => {
                        prune(v, Some(ap), false);
                        true
                    }
                    Additional::Bool(_) => {
                        prune(v, None, false);
                        true
                    }
                    Additional::Absent => false,
                }
            });
        }
        Value::Array(a) => {
            let it = s.and_then(items);
            for v in a {
                prune(v, it, false);
            }
        }
        _ => {}
    }
}

/// Pruning below `x-kubernetes-preserve-unknown-fields: true`: unknown
/// fields stay, declared ones are pruned normally.
fn skip_prune(x: &mut Value, s: &Value, root: bool) {
    match x {
        Value::Object(m) => {
            let embedded = root || flag(s, "x-kubernetes-embedded-resource");
            for (k, v) in m.iter_mut() {
                if embedded && is_meta_field(k) {
                    continue;
                }
                if let Some(p) = property(s, k) {
                    prune(v, Some(p), false);
                } else {
                    match additional(s) {
                        Additional::Schema(ap) => prune(v, Some(ap), false),
                        Additional::Bool(_) => prune(v, None, false),
                        Additional::Absent => {}
                    }
                }
            }
        }
        Value::Array(a) => {
            if let Some(it) = items(s) {
                for v in a {
                    skip_prune(v, it, false);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::schema::tests::{err, run};

    // ----- pruning ------------------------------------------------------------

    #[test]
    fn prunes_nested_unknown_fields() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "a": {"type": "object", "properties": {"b": {"type": "string"}}},
                "list": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "integer"}}}}
            }}
        }});
        let (obj, errs) = run(
            &schema,
            json!({"spec": {"a": {"b": "x", "c": 1, "d": {"e": 1}}, "zz": 1,
                    "list": [{"x": 1, "y": 2}, {"y": {"z": 1}}]},
                   "top": 1, "kind": "K", "apiVersion": "g/v1", "metadata": {"name": "n"}}),
        );
        assert_eq!(errs, vec![]);
        assert_eq!(
            obj,
            json!({"spec": {"a": {"b": "x"}, "list": [{"x": 1}, {}]},
                   "kind": "K", "apiVersion": "g/v1", "metadata": {"name": "n"}})
        );
    }

    #[test]
    fn metadata_is_never_touched() {
        // Even a schema that declares metadata neither prunes, defaults nor validates it.
        let schema = json!({"type": "object", "properties": {
            "metadata": {"type": "object", "properties": {
                "name": {"type": "string", "maxLength": 1},
                "x": {"type": "string", "default": "d"}}},
            "kind": {"type": "integer"}
        }});
        let original = json!({"apiVersion": 5, "kind": "K",
            "metadata": {"name": "long-name", "labels": {"a": "b"}, "n": null}});
        let (obj, errs) = run(&schema, original.clone());
        assert_eq!(errs, vec![]);
        assert_eq!(obj, original);
    }

    #[test]
    fn preserve_unknown_fields() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {
                "known": {"type": "object", "properties": {"k": {"type": "string"}}},
                "n": {"type": "integer"}
            }},
            "raw": {"x-kubernetes-preserve-unknown-fields": true}
        }});
        let (obj, errs) = run(
            &schema,
            json!({"spec": {"free": {"deep": [1, {"a": 2}]}, "known": {"k": "v", "drop": 1}, "n": 1},
                   "raw": [1, "two", {"three": null}]}),
        );
        assert_eq!(errs, vec![]);
        assert_eq!(
            obj,
            json!({"spec": {"free": {"deep": [1, {"a": 2}]}, "known": {"k": "v"}, "n": 1},
                   "raw": [1, "two", {"three": null}]})
        );
        // declared properties below preserve-unknown-fields are still validated
        let (_, errs) = run(&schema, json!({"spec": {"n": "x"}}));
        assert_eq!(
            errs,
            vec![err(
                "spec.n",
                "FieldValueTypeInvalid",
                "Invalid value: \"string\": spec.n in body must be of type integer: \"string\""
            )]
        );
    }

    #[test]
    fn embedded_resource_keeps_type_and_object_meta() {
        let schema = json!({"type": "object", "properties": {"template": {
            "type": "object", "x-kubernetes-embedded-resource": true,
            "properties": {"spec": {"type": "object"}}}}});
        let (obj, _) = run(
            &schema,
            json!({"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
                                "spec": {"gone": 1}, "other": 1}}),
        );
        assert_eq!(
            obj,
            json!({"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {}}})
        );
    }

    #[test]
    fn nullable_rules() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "foo": {"type": "string", "nullable": false, "default": "default"},
            "bar": {"type": "string", "nullable": true},
            "baz": {"type": "string"},
            "list": {"type": "array", "items": {"type": "string"}},
            "nlist": {"type": "array", "items": {"type": "string", "nullable": true}},
            "dlist": {"type": "array", "items": {"type": "string", "default": "x"}}
        }}}});
        // The example from the "Defaulting and nullable" docs section.
        let (obj, errs) = run(
            &schema,
            json!({"spec": {"foo": null, "bar": null, "baz": null,
                            "list": ["a", null], "nlist": [null], "dlist": [null, "y"]}}),
        );
        assert_eq!(
            obj,
            json!({"spec": {"foo": "default", "bar": null,
                            "list": ["a", null], "nlist": [null], "dlist": ["x", "y"]}})
        );
        assert_eq!(
            errs,
            vec![err(
                "spec.list[1]",
                "FieldValueTypeInvalid",
                "Invalid value: \"null\": spec.list[1] in body must be of type string: \"null\""
            )]
        );
    }
}
