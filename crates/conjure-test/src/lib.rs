//! conjure-test
