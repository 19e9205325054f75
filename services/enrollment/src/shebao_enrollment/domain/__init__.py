"""Enrollment decides who is insured where: it registers persons and employers, and enrols a person
in the schemes (employee, flexible worker, resident, land-expropriated farmer), suspends, ends and
transfers the memberships, issues cards and records deaths.

Invariants kept by every rule:
- a person has at most one active pension membership (employee, resident or land-expropriated)
  and at most one active basic medical membership;
- resident pension contributions between the ages in `resident_pension.contribution_ages`,
  employee schemes from the minimum working age up to the retirement age;
- only a registered employer employs; only an existing employment ends;
- a transfer-out and its transfer-in carry one transfer id;
- no command describes the future: an event it dates (a registration, a birth, an employment's
  start or end, an enrolment, a transfer, a card, a death) is not after the day of the
  command's record time, its ce_time (see `dates.event_dates`).
Dates are the command's own dates; nothing here reads a clock: "now" is the record's time, read
as a day of China Standard Time, so a command read again, or replayed, is answered the same.
A rule returns the new state and its `Effects` (events on `shebao.enrollment.events.v1`, keyed by
the person or employer, and coverage counts), or raises `Refused` with a `Rejection`.
"""
