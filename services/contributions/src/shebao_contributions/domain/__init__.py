"""Pure contribution rules: no I/O, no clock; time comes from the events and the period closes."""
