"""The errors hullscan raises for its callers: every one is a ``HullscanError`` with a
message a person can act on. The CLI prints it as one line and exits 2; the server
answers with it; library callers catch the subclass they care about."""

from __future__ import annotations


class HullscanError(Exception):
    """An error the user can act on: printed as one line, exit code 2."""


class ConfigError(HullscanError):
    """A settings file (hullscan.yaml, a trust policy, an ignore file) is invalid; the
    message names the file, the key and what is wrong."""


class ImageError(HullscanError):
    """The image cannot be read, or it is not what it claims to be (digest mismatch)."""


class RegistryError(ImageError):
    """A registry refused or failed; ``fallback``: another endpoint (the origin behind a
    mirror) may still serve the pull (404, 5xx, connection failures)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        transport: bool = False,
        mid_body: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.transport = transport
        self.mid_body = mid_body  # the connection failed while the body streamed

    @property
    def fallback(self) -> bool:
        return self.transport or self.status == 404 or (self.status or 0) >= 500


class DigestMismatch(ImageError):
    """A blob or manifest does not hash to the digest that names it."""


class TooLarge(ImageError):
    """A document (a manifest, a token response) is larger than its bound allows."""


class DatabaseError(HullscanError):
    """The vulnerability database is missing, unreadable, or cannot be updated."""


class KeyFileError(HullscanError):
    """A signing or verification key cannot be read (or its password is wrong)."""


def shown(text: object) -> str:
    """A string from an image or a request as it may appear in a one-line message: control
    characters (a newline would forge a second line on stderr or in a log) are escaped."""
    text = str(text)
    return text if text.isprintable() else repr(text)[1:-1]


__all__ = [
    "ConfigError",
    "DatabaseError",
    "DigestMismatch",
    "HullscanError",
    "ImageError",
    "KeyFileError",
    "RegistryError",
    "TooLarge",
    "shown",
]
