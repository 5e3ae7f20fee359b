//! Label and field selectors, as the Kubernetes API server parses and applies
//! them to `?labelSelector=` / `?fieldSelector=` query parameters and to
//! `metav1.LabelSelector` objects embedded in resources.
//!
//! The grammar, validation rules, canonical string form and error texts follow
//! `k8s.io/apimachinery`:
//!
//! * labels: <https://github.com/kubernetes/apimachinery/blob/master/pkg/labels/selector.go>
//!   and <https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors>
//! * label key / value validation:
//!   <https://github.com/kubernetes/apimachinery/blob/master/pkg/api/validate/content/kube.go>
//! * `metav1.LabelSelector` conversion (`LabelSelectorAsSelector`):
//!   <https://github.com/kubernetes/apimachinery/blob/master/pkg/apis/meta/v1/helpers.go>
//! * fields: <https://github.com/kubernetes/apimachinery/blob/master/pkg/fields/selector.go>
//!   and <https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/>
//!
//! The crate also owns, for the whole workspace, the Kubernetes name rules the
//! selectors rest on ([`validation`]: DNS-1123 labels and subdomains, from
//! `k8s.io/apimachinery/pkg/util/validation`).
//!
//! Known, deliberate differences from upstream:
//!
//! * `key in ()` / `key notin ()` is rejected here. Upstream's parser turns an
//!   empty parenthesised list into the one-element set `{""}` (so it matches an
//!   empty label value). `in (,)` is still accepted and means `{""}`, as
//!   upstream. To get upstream's behaviour, return `Ok(vec![String::new()])`
//!   instead of the error in `Parser::parse_values`.
//! * A NUL byte inside a label selector is treated as an ordinary (invalid)
//!   character; upstream's lexer treats it as end of input.

use serde_json::Value;

mod error;
mod field;
mod label;
mod quote;
pub mod validation;

pub use error::SelectorError;
pub use field::FieldSelector;
pub use label::LabelSelector;
pub use quote::{go_json_string, go_quote};

/// String form of a JSON scalar as a selector compares it: strings as is,
/// `null` as "", numbers and booleans by their JSON text, objects and arrays
/// by their compact JSON text.
fn json_scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
