"""What tests, the demo and the benchmark need besides the partners' messages (those are the
workspace package `shebao_partners`):

- `enrollment`: the memberships enrollment publishes, for a consumer fed without it;
- `offsets`: topics' end offsets, and `caught_up` to wait until a service has consumed them.
"""

from .enrollment import employee_memberships, medical_membership
from .offsets import PARTITIONS, Offsets, caught_up, kind_of

__all__ = [
    "PARTITIONS",
    "Offsets",
    "caught_up",
    "employee_memberships",
    "kind_of",
    "medical_membership",
]
