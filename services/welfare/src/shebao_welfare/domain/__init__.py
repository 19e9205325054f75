"""What the welfare service decides: whether a household gets the minimum living allowance (低保)
and how much ((standard - per-capita income) x members, from the month after the decision,
recomputed at each review), whether a person gets extreme-poverty support (特困: a multiple of the
standard plus care), one-off temporary assistance within its cap and yearly count, what each
month pays, who is a recipient on which day (for medical assistance), the price subsidy of its
recipients, and the resident-pension tier the government pays for them. Pure: state, message
and env in; new state and Effects out, or Refused."""
