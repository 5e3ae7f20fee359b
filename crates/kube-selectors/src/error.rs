//! [`SelectorError`], the error every selector parse returns.

use crate::go_quote;

/// Error parsing a selector; its Display text is what the API server puts in a
/// 400 BadRequest Status message.
///
/// The texts reproduce `k8s.io/apimachinery` (`pkg/labels/selector.go`,
/// `pkg/fields/selector.go`, `pkg/apis/meta/v1/helpers.go`,
/// `pkg/runtime/conversion.go`), including upstream's field-path prefixes such
/// as `<nil>: Invalid value: ...` and `values[0][app]: Invalid value: ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A single label-selector requirement is malformed or fails validation
    /// (bad key, bad value, missing operator, unbalanced parentheses, ...).
    /// Display: `unable to parse requirement: <detail>`, as upstream's
    /// `labels.Parse`.
    #[error("unable to parse requirement: {0}")]
    InvalidRequirement(String),

    /// The label-selector string is malformed between requirements, e.g. a
    /// trailing comma (`found '', expected: identifier after ','`) or garbage
    /// after a requirement (`found '==', expected: ',' or 'end of string'`).
    /// Display: the detail alone, as upstream.
    #[error("{0}")]
    InvalidLabelSelector(String),

    /// A `metav1.LabelSelector` object failed `LabelSelectorAsSelector`:
    /// unknown operator (`"Gt" is not a valid label selector operator`) or an
    /// invalid requirement (`key: Invalid value: ...`). Display: the detail.
    #[error("{0}")]
    InvalidLabelSelectorObject(String),

    /// A `metav1.LabelSelector` JSON value has the wrong shape (e.g.
    /// `matchLabels` is not an object of strings). Upstream would fail while
    /// decoding JSON instead. Display: `invalid label selector: <detail>`.
    #[error("invalid label selector: {0}")]
    MalformedLabelSelector(String),

    /// A field-selector term has no `=`, `==` or `!=` operator.
    /// Display: `invalid selector: '<selector>'; can't understand '<term>'`,
    /// as upstream `fields.ParseSelector`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    InvalidFieldTerm {
        /// The whole field selector string as given.
        selector: String,
        /// The offending term.
        term: String,
    },

    /// A field-selector value contains a backslash not followed by `\`, `,`
    /// or `=`, or ends with a lone backslash.
    /// Display: `invalid field selector: invalid escape sequence: <seq>`.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscapeSequence(String),

    /// A field-selector value contains an unescaped `,` or `=`.
    /// Display: `invalid field selector: unescaped character in value: <n>`
    /// where `<n>` is the character's decimal code point, exactly as upstream
    /// prints a Go rune with `%v` (e.g. `61` for `=`).
    #[error("invalid field selector: unescaped character in value: {}", u32::from(*.0))]
    UnescapedCharacter(char),

    /// A field selector names a field the resource does not support. Never
    /// produced by this crate's parsers; build it with
    /// [`SelectorError::unsupported_field`] after checking
    /// [`FieldSelector::fields`](crate::FieldSelector::fields). Display, as upstream
    /// `runtime.DefaultMetaV1FieldSelectorConversion`:
    /// `"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"`.
    #[error("{} is not a known field selector: only {}", go_quote(.field), quote_list(.supported))]
    UnsupportedField {
        /// The unsupported field path.
        field: String,
        /// The field paths the resource does support.
        supported: Vec<String>,
    },
}

impl SelectorError {
    /// Builds [`SelectorError::UnsupportedField`] for `field`, listing the
    /// `supported` field paths in the message. Never fails.
    ///
    /// Source of the message: `DefaultMetaV1FieldSelectorConversion` in
    /// <https://github.com/kubernetes/apimachinery/blob/master/pkg/runtime/conversion.go>.
    pub fn unsupported_field(field: &str, supported: &[&str]) -> Self {
        SelectorError::UnsupportedField {
            field: field.to_string(),
            supported: supported.iter().map(|s| (*s).to_string()).collect(),
        }
    }
}

fn quote_list(items: &[String]) -> String {
    items.iter().map(|s| go_quote(s)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_field_message() {
        let e = SelectorError::unsupported_field("spec.foo", &["metadata.name", "metadata.namespace"]);
        assert_eq!(
            e.to_string(),
            "\"spec.foo\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        );
    }
}
