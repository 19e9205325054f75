"""One kit for test data and partners, used by the demo, the benchmark and every test harness.

- `ids`: valid citizen IDs (GB 11643 check character) and employer codes;
- `claims`: claim lines, claims and cancellations as a hospital writes them, a hospital's
  registration;
- `enrollment`: the memberships enrollment publishes, for a consumer fed without it;
- `reports`: what a tax bureau reports it collected;
- `partners`: the headers of a partner's record, whatever its body;
- `offsets`: topics' end offsets, and `caught_up` to wait until a service has consumed them.
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
from .enrollment import employee_memberships, medical_membership
from .ids import citizen_id, employer_code, with_check_char, wrong_check
from .offsets import PARTITIONS, Offsets, caught_up, kind_of
from .partners import partner_headers
from .reports import collection_body, employer_collected

__all__ = [
    "CATEGORIES",
    "PARTITIONS",
    "Line",
    "Offsets",
    "cancellation_body",
    "caught_up",
    "citizen_id",
    "claim_body",
    "claim_line",
    "collection_body",
    "employee_memberships",
    "employer_code",
    "employer_collected",
    "example_lines",
    "hospital_registration",
    "kind_of",
    "medical_membership",
    "partner_headers",
    "random_lines",
    "with_check_char",
    "wrong_check",
]
