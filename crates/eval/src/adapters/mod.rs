//! Adapters that read public evaluation sets in their upstream formats from a data directory.
