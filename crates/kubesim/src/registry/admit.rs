//! Where a write meets admission: every write shows what it is about to commit to the
//! request's [`Admit`] (if it has one), under the store lock, after defaulting and
//! validation and before the commit, as upstream's registry calls the validating admission
//! functions inside `GuaranteedUpdate` (`staging/src/k8s.io/apiserver/pkg/registry/generic/
//! registry/store.go`: `createValidation`, `updateValidation`, `deleteValidation`).
//!
//! An [`Admit`] cannot wait under the lock: when webhooks must see the write, it answers
//! [`ApiError::admission_pending`], the write commits nothing, and the caller calls the
//! webhooks and computes the write again. For the second computation to yield exactly the
//! object the webhooks saw, the values a write draws afresh (uid, timestamps, a generated
//! name) come from the request's [`Pins`].

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use super::{Ctx, Sub};
use crate::error::ApiError;
use crate::store::StoreInner;

/// An admission operation (`admission.Operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A create (POST, or an apply that creates).
    Create,
    /// An update (PUT, PATCH, an apply of an existing object).
    Update,
    /// A delete.
    Delete,
}

impl Operation {
    /// The name in webhook rules and reviews: `CREATE`, `UPDATE`, `DELETE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// A write about to commit.
#[derive(Debug)]
pub struct Proposed<'a> {
    /// The operation.
    pub operation: Operation,
    /// The subresource written.
    pub sub: Sub,
    /// The name the request gave (`""` for a create with `generateName`, and for the items of
    /// a deletecollection, as upstream's attributes have it).
    pub name: &'a str,
    /// The stored object before the write (storage shape); `None` for a create.
    pub old: Option<&'a Value>,
    /// The object the write would store (storage shape); `None` for a delete.
    pub new: Option<&'a Value>,
}

/// Admission of writes, called under the store lock just before a write commits.
pub trait Admit: Send + Sync {
    /// `Ok(())` lets the write commit. An error stops it with nothing written:
    /// [`ApiError::admission_pending`] when webhooks must see it first, or the request's
    /// answer (e.g. 404 for a namespace selector whose Namespace is gone).
    fn admit(&self, store: &StoreInner, ctx: &Ctx, proposed: &Proposed<'_>) -> Result<(), ApiError>;
}

/// Values a write would draw afresh each time it is computed, fixed once per request so
/// that computing it again gives the same object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pins {
    /// The uid of a created object.
    pub uid: String,
    /// "Now", RFC 3339 to the second (creationTimestamp, managedFields times, ...).
    pub time: String,
    /// The suffix of a generated name.
    pub suffix: String,
}

impl Pins {
    /// Fresh values: a v4 uid, the current time, a random suffix.
    pub fn new() -> Self {
        Self { uid: uuid::Uuid::new_v4().to_string(), time: super::now(), suffix: super::random_suffix() }
    }
}

impl Default for Pins {
    fn default() -> Self {
        Self::new()
    }
}

/// A request's admission and pins, carried by its [`Ctx`].
#[derive(Clone)]
pub struct Gate {
    /// The admission of the request's writes.
    pub admit: Arc<dyn Admit>,
    /// The request's pinned values.
    pub pins: Arc<Pins>,
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate").field("pins", &self.pins).finish_non_exhaustive()
    }
}

impl Ctx {
    /// "Now" for this request's writes: pinned when the request has a [`Gate`].
    pub fn now(&self) -> String {
        self.gate.as_ref().map_or_else(super::now, |g| g.pins.time.clone())
    }

    /// The uid of an object this request creates.
    pub fn new_uid(&self) -> String {
        self.gate.as_ref().map_or_else(|| uuid::Uuid::new_v4().to_string(), |g| g.pins.uid.clone())
    }

    /// The suffix of a name this request generates.
    pub fn name_suffix(&self) -> String {
        self.gate.as_ref().map_or_else(super::random_suffix, |g| g.pins.suffix.clone())
    }

    /// Shows `proposed` to the request's admission; `Ok(())` without one.
    ///
    /// Errors: as [`Admit::admit`].
    pub fn admit(&self, store: &StoreInner, proposed: &Proposed<'_>) -> Result<(), ApiError> {
        match &self.gate {
            Some(g) => g.admit.admit(store, self, proposed),
            None => Ok(()),
        }
    }
}
