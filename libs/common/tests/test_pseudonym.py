import hashlib
import hmac

import pytest

from shebao_common.pseudonym import CitizenIdSeal, PersonSeal, Pseudonymizer


def test_person_ref_is_the_keyed_hmac_of_the_normalised_id() -> None:
    key = b"a pseudonym key"
    p = Pseudonymizer(key)
    want = hmac.new(key, b"11010519491231002X", hashlib.sha256).hexdigest()[:32]
    assert p.person_ref("11010519491231002X") == want
    assert p.person_ref(" 11010519491231002x ") == want  # the same person, however typed
    # the copied keyed state is not changed by a call
    assert p.person_ref("11010519491231002X") == want
    assert p.person_ref("110105194912310021") != want
    assert Pseudonymizer(b"another key").person_ref("11010519491231002X") != want


def test_a_key_is_required() -> None:
    with pytest.raises(ValueError, match="key is required"):
        Pseudonymizer(b"")


def test_a_person_seal_opens_only_as_sealed_for_that_person_and_purpose() -> None:
    names = PersonSeal(b"a secret", "enrollment name")
    sealed = names.seal(" Anna 王芳 ", "ref-1")
    assert sealed.startswith("s1.") and "Anna" not in sealed
    assert names.open(sealed, "ref-1") == " Anna 王芳 "  # exactly as given
    assert names.seal(" Anna 王芳 ", "ref-1") == sealed  # deterministic
    with pytest.raises(ValueError, match="does not open"):
        names.open(sealed, "ref-2")  # moved to another person
    with pytest.raises(ValueError, match="does not open"):
        PersonSeal(b"a secret", "another purpose").open(sealed, "ref-1")
    with pytest.raises(ValueError, match="does not open"):
        PersonSeal(b"another secret", "enrollment name").open(sealed, "ref-1")
    # the citizen ID seal of the same secret is another key
    with pytest.raises(ValueError, match="does not open"):
        CitizenIdSeal(b"a secret").open("v1." + sealed[3:], "ref-1")
    with pytest.raises(ValueError, match="not a sealed value"):
        names.open("v1." + sealed[3:], "ref-1")
