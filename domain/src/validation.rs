//! Validation errors that name the item and the field, so a client can fix its request.

use std::fmt;

use serde::Serialize;

/// The field of a sample an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The item as a whole (not a JSON object, unknown key, ...).
    Item,
    /// `metric_name` (alias `name`).
    MetricName,
    /// `value`.
    Value,
    /// `timestamp` (alias `ts`).
    Timestamp,
    /// `agent_id`.
    AgentId,
    /// `tags`.
    Tags,
    /// `dedupe_id`.
    DedupeId,
}

impl Field {
    /// The field's name as clients write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Field::Item => "item",
            Field::MetricName => "metric_name",
            Field::Value => "value",
            Field::Timestamp => "timestamp",
            Field::AgentId => "agent_id",
            Field::Tags => "tags",
            Field::DedupeId => "dedupe_id",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with one item of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemError {
    /// Position of the item in the request (0 for a single object).
    pub index: usize,
    /// The field at fault.
    pub field: Field,
    /// What is wrong, in words a user can act on.
    pub message: String,
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "item {}: {}: {}", self.index, self.field, self.message)
    }
}

/// A single field-level problem, before it is attached to an item index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field at fault.
    pub field: Field,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: Field, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }

    /// Attaches the item index.
    pub fn at(self, index: usize) -> ItemError {
        ItemError { index, field: self.field, message: self.message }
    }
}
