"""HTTP Digest: RFC 2617's worked example, challenges parsed, unknown algorithms declined."""

from __future__ import annotations

from agent.onvif.httpauth import digest_authorization, parse_challenge

RFC_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)


def test_rfc_2617_example() -> None:
    challenge = parse_challenge(RFC_CHALLENGE)
    assert challenge is not None
    value = digest_authorization(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle Of Life",
        cnonce="0a4f113b",
    )
    assert value is not None
    assert 'response="6629fae49393a05397450978507c4ef1"' in value and "nc=00000001" in value


def test_challenges() -> None:
    assert parse_challenge('Basic realm="x"') is None
    assert parse_challenge('Digest realm="x"') is None  # no nonce
    legacy = parse_challenge('Digest realm="r", nonce="n"')
    assert legacy is not None
    assert "qop" not in (
        digest_authorization(legacy, method="POST", uri="/", username="u", password="p", cnonce="c") or ""
    )
    sha = parse_challenge('Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256')
    assert sha is not None and "algorithm=SHA-256" in (
        digest_authorization(sha, method="POST", uri="/", username="u", password="p", cnonce="c") or ""
    )
    odd = parse_challenge('Digest realm="r", nonce="n", algorithm=SHA-512-256')
    assert (
        odd is not None
        and digest_authorization(odd, method="POST", uri="/", username="u", password="p", cnonce="c") is None
    )
