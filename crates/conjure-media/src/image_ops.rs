//! Image steps.
