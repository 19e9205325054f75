"""shebao medical settlement: hospital claims in, adjudication, settlement results out."""
