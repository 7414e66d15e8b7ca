//! conjure-journal
