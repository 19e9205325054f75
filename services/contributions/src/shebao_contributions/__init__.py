"""The contributions service: what is owed, what was paid and what it bought."""
