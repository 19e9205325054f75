"""The platform's partners, simulated: what hospitals, tax bureaus and statistics bureaus send
and how, built from the published contracts only. Used by the demo, the benchmark and the tests,
and by an integrator through `shebao-partner` (validate a message, send it, follow the answers).

- `ids`: valid citizen IDs (GB 11643 check character), a made-up population's, and employer
  codes;
- `claims`: claim lines, claims and cancellations as a hospital writes them, random claims
  from a seeded generator, a hospital's registration;
- `reports`: what a tax bureau reports it collected, what a statistics bureau releases;
- `records`: the CloudEvents headers of a partner's record, whatever its body, and the source
  a partner writes on its topic;
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
    random_claim,
    random_claims,
    random_lines,
)
from .ids import (
    citizen_id,
    citizen_id_in_region,
    employer_code,
    person_citizen_id,
    with_check_char,
    wrong_check,
)
from .records import partner_headers, partner_source_of
from .reports import collection_body, cpi_release, employer_collected, person_collected

__all__ = [
    "CATEGORIES",
    "Line",
    "cancellation_body",
    "citizen_id",
    "citizen_id_in_region",
    "claim_body",
    "claim_line",
    "collection_body",
    "cpi_release",
    "employer_code",
    "employer_collected",
    "example_lines",
    "hospital_registration",
    "partner_headers",
    "partner_source_of",
    "person_citizen_id",
    "person_collected",
    "random_claim",
    "random_claims",
    "random_lines",
    "with_check_char",
    "wrong_check",
]
