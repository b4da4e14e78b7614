"""Ed25519 verification (fal's webhooks) against RFC 8032's test vectors and `cryptography`."""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chalicelib.adapters.ed25519 import verify

# RFC 8032 section 7.1: TEST 1, 2, 3 and SHA(abc) (public key, message, signature).
RFC_8032 = [
    ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
     "d25bf5f0595bbe24655141438e7a100b"),
    ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c"
     "387b2eaeb4302aeeb00d291612bb0c00"),
    ("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc659"
     "4a7c15e9716ed28dc027beceea1ec40a"),
    ("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     hashlib.sha512(b"abc").hexdigest(),
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e030"
     "3dca179c138ac17ad9bef1177331a704"),
]


@pytest.mark.parametrize(("public", "message", "signature"), RFC_8032)
def test_rfc_8032_signatures_verify(public, message, signature):
    assert verify(bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature))


@pytest.mark.parametrize(("public", "message", "signature"), RFC_8032)
def test_any_changed_bit_fails(public, message, signature):
    key, text, sig = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    assert not verify(key, text + b"\x00", sig)
    for position in (0, 31, 32, 63):
        flipped = bytearray(sig)
        flipped[position] ^= 0x01
        assert not verify(key, text, bytes(flipped))
    flipped_key = bytearray(key)
    flipped_key[0] ^= 0x01
    assert not verify(bytes(flipped_key), text, sig)


def test_a_non_canonical_s_and_wrong_lengths_fail():
    public, message, signature = (bytes.fromhex(part) for part in RFC_8032[0])
    order = 2**252 + 27742317777372353535851937790883648493
    s = int.from_bytes(signature[32:], "little")
    malleated = signature[:32] + (s + order).to_bytes(32, "little")
    assert not verify(public, message, malleated)
    assert not verify(public[:31], message, signature)
    assert not verify(public, message, signature[:63])
    assert not verify(b"\xff" * 32, message, signature)  # no point has this encoding


def test_signatures_made_by_cryptography_verify():
    for _ in range(5):
        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        message = os.urandom(100)
        assert verify(public, message, key.sign(message))
        assert not verify(public, message, Ed25519PrivateKey.generate().sign(message))
