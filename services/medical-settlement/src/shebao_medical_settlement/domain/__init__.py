"""Medical settlement's pure domain: coverage projection, adjudication, statements."""
