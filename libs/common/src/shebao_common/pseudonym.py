"""Person references: a keyed HMAC-SHA256 of the citizen ID, so events never carry the ID itself."""

from __future__ import annotations

import hashlib
import hmac


class Pseudonymizer:
    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("a pseudonym key is required")
        self._key = key

    def person_ref(self, citizen_id: str) -> str:
        """128 bits of HMAC-SHA256(key, ID) in hex: stable per person, not reversible."""
        digest = hmac.new(self._key, citizen_id.strip().upper().encode(), hashlib.sha256)
        return digest.hexdigest()[:32]
