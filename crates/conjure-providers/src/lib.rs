//! conjure-providers
