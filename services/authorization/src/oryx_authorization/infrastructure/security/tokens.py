"""Opaque bearer tokens: random, prefixed by kind, stored as SHA-256 digests.

Tokens carry 256 bits of randomness, so a fast digest is enough: a stolen table of digests
does not give the tokens back, and lookup by digest needs no secret comparison at all.
"""

import hashlib
import secrets

from oryx_authorization.domain.tokens import TokenKind

PREFIXES = {TokenKind.LOGIN: "oryx_s_", TokenKind.PERSONAL: "oryx_p_"}


class SecretsTokenGenerator:
    def new(self, kind: TokenKind) -> str:
        return PREFIXES[kind] + secrets.token_urlsafe(32)

    def digest(self, token: str) -> str:
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def generate_password() -> str:
    return secrets.token_urlsafe(15)
