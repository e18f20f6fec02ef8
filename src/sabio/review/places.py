"""The country of a login's address, offline: the country a Regional Internet Registry
assigned the address's block to (their public delegation files, embedded in the
``iptocc`` package, MIT OR Apache-2.0; about 95% agree with commercial geolocation for
IPv4). No network call, no licence-restricted database (GeoLite2's terms need an account
and forbid redistribution). Without the ``geo`` extra, or for a private, reserved or
unassigned address or a host name, there is no country."""

from __future__ import annotations

import functools


@functools.cache
def country_of(address: str) -> str | None:
    """The ISO 3166-1 alpha-2 code of ``address``'s country, or None."""
    try:
        from iptocc import country_code
    except ImportError:  # the geo extra is not installed: places only (networks, domains)
        return None
    code = country_code(address)
    return code if isinstance(code, str) and code else None
