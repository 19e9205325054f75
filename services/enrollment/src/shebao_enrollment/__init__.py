"""shebao enrollment service: persons, employers, scheme membership, transfer, card, coverage."""
