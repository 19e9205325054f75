"""shebao welfare: minimum living allowance (低保), extreme-poverty support (特困), temporary
assistance."""
