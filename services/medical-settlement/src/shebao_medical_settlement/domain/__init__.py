"""Medical settlement's rules: which hospital claims are accepted (`intake`), what each pays from
the person's coverage and yearly totals (`adjudication`), a claim through settlement, refusal and
cancellation (`claims`), coverage projected from other services' events (`coverage`), designated
hospitals (`hospitals`) and their monthly statements (`statements`). A rule returns its new state
and `Effects`, or raises `Refused` with a `ClaimRejection`; parameters come through `Env.params`.
"""
