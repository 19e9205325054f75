import hashlib
import hmac

import pytest

from shebao_common.pseudonym import Pseudonymizer


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
