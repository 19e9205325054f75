"""Person references: a keyed HMAC-SHA256 of the citizen ID, so events never carry the ID itself;
and the sealed citizen ID, for the one service that must name a person to a partner."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV


class Pseudonymizer:
    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("a pseudonym key is required")
        # The keyed state after the key block, copied per call: half the cost of hmac.new()
        # (5 against 11 us), the same digest.
        self._keyed = hmac.new(key, None, hashlib.sha256)

    def person_ref(self, citizen_id: str) -> str:
        """128 bits of HMAC-SHA256(key, ID) in hex: stable per person, not reversible."""
        digest = self._keyed.copy()
        digest.update(citizen_id.strip().upper().encode())
        return digest.hexdigest()[:32]


class CitizenIdSeal:
    """A citizen ID encrypted for one service that must name the person to a partner.

    Enrollment seals the ID it registers (AES-SIV, RFC 5297, bound to the person reference as
    associated data) and publishes only the sealed value; contributions keeps it and opens it for
    the one place a raw ID is needed: a record to the tax bureau. Deterministic, so a replay of
    the log seals the same person to the same value, and the value reveals nothing a pseudonym
    does not (equal IDs, equal values). Without the key the value is noise; a value moved to
    another person's reference does not open.
    """

    PREFIX = "v1."

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("a citizen ID sealing key is required")
        # a 512-bit AES-SIV key from a secret of any length
        key = hmac.new(secret, b"shebao citizen-id seal v1", hashlib.sha512).digest()
        self._siv = AESSIV(key)

    def seal(self, citizen_id: str, person_ref: str) -> str:
        sealed = self._siv.encrypt(citizen_id.strip().upper().encode(), [person_ref.encode()])
        return self.PREFIX + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def open(self, sealed: str, person_ref: str) -> str:
        """The citizen ID; ValueError when the value is not this key's seal of this person."""
        if not sealed.startswith(self.PREFIX):
            raise ValueError("not a sealed citizen ID")
        body = sealed[len(self.PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return self._siv.decrypt(raw, [person_ref.encode()]).decode()
        except (InvalidTag, ValueError) as e:
            raise ValueError(f"sealed citizen ID of {person_ref} does not open") from e


class CitizenIds:
    """The boundary where a partner names a person by citizen ID: to the reference and back.

    A service that reads IDs from a partner turns them into references (`person_ref`); the one
    that must name a person to a partner opens the ID enrollment sealed for it (`open`).
    """

    def __init__(self, pseudonym_key: bytes, citizen_id_key: bytes) -> None:
        self._refs = Pseudonymizer(pseudonym_key)
        self._seal = CitizenIdSeal(citizen_id_key)

    def person_ref(self, citizen_id: str) -> str:
        return self._refs.person_ref(citizen_id)

    def seal(self, citizen_id: str) -> str:
        """The sealed ID of a person, bound to the person's reference."""
        return self._seal.seal(citizen_id, self.person_ref(citizen_id))

    def open(self, sealed: str, person_ref: str) -> str:
        """The citizen ID of `person_ref`; ValueError when `sealed` is not that person's."""
        return self._seal.open(sealed, person_ref)


class PersonSeal:
    """Text about a person that a service publishes sealed, for itself alone.

    A service that rebuilds its state from its own events (`runtime/rebuild.py`) needs there
    what it keeps of a person, and some of it (a name) no event may carry in clear. It seals
    it (AES-SIV, RFC 5297, bound to the person reference as associated data, like
    `CitizenIdSeal`) with a key derived from its secret and `purpose`, so the value opens only
    with that secret and for that purpose, and only as that person's. Deterministic: sealing
    again gives the same value. The text is kept exactly (no case folding or trimming).
    """

    PREFIX = "s1."

    def __init__(self, secret: bytes, purpose: str) -> None:
        if not secret:
            raise ValueError("a sealing key is required")
        if not purpose:
            raise ValueError("a seal names what it is for")
        label = f"shebao person seal v1: {purpose}".encode()
        self._siv = AESSIV(hmac.new(secret, label, hashlib.sha512).digest())

    def seal(self, text: str, person_ref: str) -> str:
        sealed = self._siv.encrypt(text.encode(), [person_ref.encode()])
        return self.PREFIX + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def open(self, sealed: str, person_ref: str) -> str:
        """The text; ValueError when the value is not this seal of this person's text."""
        if not sealed.startswith(self.PREFIX):
            raise ValueError("not a sealed value")
        body = sealed[len(self.PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return self._siv.decrypt(raw, [person_ref.encode()]).decode()
        except (InvalidTag, ValueError) as e:
            raise ValueError(f"sealed value of {person_ref} does not open") from e
