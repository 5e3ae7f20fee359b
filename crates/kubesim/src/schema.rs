//! placeholder
/// x
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// f
    pub field: String,
    /// r
    pub reason: &'static str,
    /// m
    pub message: String,
}
/// x
pub fn prune_and_validate(_schema: &serde_json::Value, _obj: &mut serde_json::Value) -> Vec<FieldError> {
    vec![]
}
