"""shebao unemployment subsidies: unemployment benefits and the CPI-linked price subsidy."""
