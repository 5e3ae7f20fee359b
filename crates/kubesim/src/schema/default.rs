//! Step 2 of the pipeline: applying `default`s (`defaulting.Default`).

use serde_json::Value;

use super::{
    Additional, additional, additional_schema, default_of, is_meta_field, items, nullable, properties, property,
};

// ---------------------------------------------------------------------------
// Step 2: Default
// ---------------------------------------------------------------------------

pub(super) fn apply_defaults(x: &mut Value, s: Option<&Value>, root: bool) {
    let Some(s) = s else { return };
    match x {
        Value::Object(m) => {
            if let Some(props) = properties(s) {
                for (k, p) in props {
                    if root && is_meta_field(k) {
                        continue;
                    }
                    let Some(d) = default_of(p) else { continue };
                    let missing = match m.get(k) {
                        None => true,
                        Some(v) => v.is_null() && !nullable(p),
                    };
                    if missing {
                        m.insert(k.clone(), d.clone());
                    }
                }
            }
            let has_additional = !matches!(additional(s), Additional::Absent);
            for (k, v) in m.iter_mut() {
                if root && is_meta_field(k) {
                    continue;
                }
                if let Some(p) = property(s, k) {
                    apply_defaults(v, Some(p), false);
                } else if has_additional {
                    let ap = additional_schema(s);
                    if let Some(ap) = ap
                        && v.is_null()
                        && !nullable(ap)
                    {
                        *v = default_of(ap).cloned().unwrap_or(Value::Null);
                    }
                    apply_defaults(v, ap, false);
                }
            }
        }
        Value::Array(a) => {
            let it = items(s);
            for v in a.iter_mut() {
                if let Some(it) = it
                    && v.is_null()
                    && !nullable(it)
                {
                    *v = default_of(it).cloned().unwrap_or(Value::Null);
                }
                apply_defaults(v, it, false);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::schema::tests::{err, run};

    #[test]
    fn defaults_nested_and_in_items_and_maps() {
        let schema = json!({"type": "object", "properties": {"spec": {
        "type": "object", "default": {},
        "properties": {
            "policy": {"type": "object", "default": {"level": 1},
                       "properties": {"level": {"type": "integer"}, "mode": {"type": "string", "default": "Audit"}}},
            "ports": {"type": "array", "items": {"type": "object", "properties": {
                "protocol": {"type": "string", "default": "TCP"}, "port": {"type": "integer"}}}},
            "limits": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                "max": {"type": "integer", "default": 10}}}},
            "present": {"type": "string", "default": "no"}
        }}}});
        let (obj, errs) = run(&schema, json!({"kind": "K"}));
        assert_eq!(errs, vec![]);
        assert_eq!(obj, json!({"kind": "K", "spec": {"policy": {"level": 1, "mode": "Audit"}, "present": "no"}}));
        let (obj, errs) = run(
            &schema,
            json!({"spec": {"present": "yes", "ports": [{"port": 80}, {"protocol": "UDP"}],
                            "limits": {"cpu": {}, "mem": {"max": 1}}}}),
        );
        assert_eq!(errs, vec![]);
        assert_eq!(
            obj["spec"],
            json!({"present": "yes", "policy": {"level": 1, "mode": "Audit"},
                   "ports": [{"port": 80, "protocol": "TCP"}, {"protocol": "UDP"}],
                   "limits": {"cpu": {"max": 10}, "mem": {"max": 1}}})
        );
    }

    #[test]
    fn defaults_are_validated() {
        let schema = json!({"type": "object", "properties": {
            "n": {"type": "integer", "default": -5, "minimum": 0}}});
        let (obj, errs) = run(&schema, json!({}));
        assert_eq!(obj, json!({"n": -5}));
        assert_eq!(
            errs,
            vec![err("n", "FieldValueInvalid", "Invalid value: -5: n in body should be greater than or equal to 0")]
        );
    }
}
