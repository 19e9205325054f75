"""One kit for test data, used by the demo, the benchmark and every test harness.

What partners send (citizen IDs, claims, bureau reports, a partner's headers) is the workspace
package `shebao_partners`, re-exported here for the callers that import the kit; the kit adds
what only a test or a demo needs:
- `enrollment`: the memberships enrollment publishes, for a consumer fed without it;
- `offsets`: topics' end offsets, and `caught_up` to wait until a service has consumed them.
"""

from shebao_partners import (
    CATEGORIES,
    Line,
    cancellation_body,
    citizen_id,
    claim_body,
    claim_line,
    collection_body,
    employer_code,
    employer_collected,
    example_lines,
    hospital_registration,
    partner_headers,
    random_lines,
    with_check_char,
    wrong_check,
)

from .enrollment import employee_memberships, medical_membership
from .offsets import PARTITIONS, Offsets, caught_up, kind_of

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
