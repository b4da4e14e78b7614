"""Ed25519 signature verification (RFC 8032, section 5.1.7), in pure Python.

Only fal's webhooks need it, a few per video, so the `cryptography` wheel (16 MB installed,
4.7 MB zipped: a fifth more Lambda package) is not worth its weight here. Verification handles
public data only, so constant time does not matter. Checked against RFC 8032's test vectors and
against signatures made by `cryptography` (tests/test_ed25519.py).
"""

from __future__ import annotations

import hashlib

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493  # the order of the base point
_D = -121665 * pow(121666, -1, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)

# Points in extended coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z.
_Point = tuple[int, int, int, int]


def _add(a: _Point, b: _Point) -> _Point:
    # RFC 8032 5.1.4; the formula is complete, so it also doubles.
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    pa = (y1 - x1) * (y2 - x2) % _P
    pb = (y1 + x1) * (y2 + x2) % _P
    pc = 2 * t1 * t2 * _D % _P
    pd = 2 * z1 * z2 % _P
    e, f, g, h = pb - pa, pd - pc, pd + pc, pb + pa
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _multiply(scalar: int, point: _Point) -> _Point:
    result: _Point = (0, 1, 1, 0)  # the neutral element
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _same(a: _Point, b: _Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _decode(encoded: bytes) -> _Point | None:
    """The point a 32-byte encoding names, or None when it names none (RFC 8032 5.1.3)."""
    y = int.from_bytes(encoded, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, -1, _P) % _P
    if x2 == 0:
        if sign:
            return None
        return 0, y, 1, 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
        if (x * x - x2) % _P:
            return None
    if x & 1 != sign:
        x = _P - x
    return x, y, 1, x * y % _P


_BASE = _decode((4 * pow(5, -1, _P) % _P).to_bytes(32, "little"))
assert _BASE is not None


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is `public_key`'s signature of `message`."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decode(public_key)
    r = _decode(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % _L
    # [S]B = R + [k]A, the check RFC 8032 says suffices.
    return _same(_multiply(s, _BASE), _add(r, _multiply(k, a)))
