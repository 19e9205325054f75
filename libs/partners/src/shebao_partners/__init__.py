"""The platform's partners, simulated: what hospitals, tax bureaus and the statistics bureau send
and how, built from the published contracts only. Used by the demo, the benchmark and the tests,
and by an integrator through `shebao-partner` (validate a message, send it, follow the answers).

- `ids`: valid citizen IDs (GB 11643 check character) and employer codes;
- `claims`: claim lines, claims and cancellations as a hospital writes them, a hospital's
  registration;
- `reports`: what a tax bureau reports it collected;
- `records`: the CloudEvents headers of a partner's record, whatever its body;
- `offices`: what the civil-affairs office, the job centre, the statistics bureau and a tax
  bureau collecting from a person send;
- `schemas`: the published JSON Schemas, and a message checked against them;
- `cli`: the command line.
"""

from .claims import (
    CATEGORIES,
    Line,
    cancellation_body,
    claim_body,
    claim_line,
    example_lines,
    hospital_registration,
    random_lines,
)
from .ids import citizen_id, employer_code, with_check_char, wrong_check
from .records import partner_headers
from .reports import collection_body, employer_collected

__all__ = [
    "CATEGORIES",
    "Line",
    "cancellation_body",
    "citizen_id",
    "claim_body",
    "claim_line",
    "collection_body",
    "employer_code",
    "employer_collected",
    "example_lines",
    "hospital_registration",
    "partner_headers",
    "random_lines",
    "with_check_char",
    "wrong_check",
]
