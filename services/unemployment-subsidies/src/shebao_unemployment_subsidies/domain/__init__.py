"""What the unemployment-subsidies service decides: who is entitled to unemployment benefit and
for how many months, what each month pays (the benefit, and the person's medical contribution,
paid by the fund), when a benefit stops, and whether a month's price index triggers the price
subsidy and how much it pays a person. Pure: state, message and env in; new state and Effects
out, or Refused."""
