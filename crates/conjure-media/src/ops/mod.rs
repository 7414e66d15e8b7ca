//! Single-step operations.
