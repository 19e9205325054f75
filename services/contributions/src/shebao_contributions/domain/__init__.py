"""The contribution rules: what each payer owes, what it paid, and what a person is credited.

At a region's period close an employer is assessed for the persons it employs on the month's
last day, a flexible worker or a resident for himself (regions.py, employers.py, persons.py); a
tax bureau reports what it collected, booked on the payer's ledger (ledger.py); a settled period
credits the person's months and accounts, from which interruption is judged and a transfer is
computed. The rules are pure: no I/O, no clock, the time is the records' own; a rule answers its
new state and the `Effects` it wants, or raises `Refused` with a `Rejection` reason.
"""
