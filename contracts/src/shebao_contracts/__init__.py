"""The platform's published contracts: messages, topics and each service's contract.

Enrollment's contract is imported first: every other contract reads its schemes and events, and
its lifetime record reads all of theirs, so it imports them at its end (see enrollment.py).
"""

from . import enrollment as enrollment
