//! conjure-sandbox
