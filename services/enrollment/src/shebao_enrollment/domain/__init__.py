"""Enrollment's pure domain: state model and rules (no I/O, no clock)."""
