"""Kubernetes resource quantities (``500m``, ``2``, ``1Gi``, ``1e3``), parsed as Kubernetes parses them.

The CRD checks them with CEL's ``isQuantity``/``quantity``; the models re-check them with this parser,
so an object that never went through the CRD's rules is refused the same way.
"""

from __future__ import annotations

import math
import re
from decimal import Context, Decimal

# <signedNumber><suffix>: binary SI (Ki..Ei), decimal SI (n, u, m, "", k, M..E) or a decimal exponent (e3, E-2).
_QUANTITY = re.compile(r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
                       r"(?:(?P<binary>[KMGTPE]i)|(?P<si>[numkMGTPE])|[eE](?P<exponent>[+-]?[0-9]+))?$")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_SI = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
MAX_EXPONENT = 1000  # far beyond any real quantity; keeps Decimal arithmetic small
_EXACT = Context(prec=200)  # a 64-character quantity times 2**60 or 10**18 keeps every digit


def parse_quantity(value: object) -> Decimal | None:
    """The value of a quantity, or None when ``value`` is not one.

    A JSON number is a quantity too (the API server's Quantity accepts ``cpu: 0.5``); a bool is not.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    match = _QUANTITY.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    number = Decimal(match["number"])
    if match["binary"]:
        return _EXACT.multiply(number, Decimal(1024 ** _BINARY[match["binary"]]))
    exponent = _SI[match["si"]] if match["si"] else int(match["exponent"] or 0)
    return number.scaleb(exponent, _EXACT) if abs(exponent) <= MAX_EXPONENT else None
