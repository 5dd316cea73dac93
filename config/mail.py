"""E-mail settings from the environment: EMAIL_URL or DJANGO_EMAIL_*, ADMINS, senders.

Like config/env.py, a bad value raises ``ImproperlyConfigured`` with one line naming the
variable and what it expects; a password is never part of the message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import getaddresses, parseaddr
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_str

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
CONSOLE_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_URL_EXPECTED = (
    "smtp://USER:PASSWORD@HOST:PORT, smtp+tls://... (STARTTLS), smtp+ssl://... (TLS) or console://"
)
# scheme -> (default port, use_tls, use_ssl)
SMTP_SCHEMES = {
    "smtp": (25, False, False),
    "smtp+tls": (587, True, False),
    "smtp+ssl": (465, False, True),
}
SMTP_VARIABLES = (
    "DJANGO_EMAIL_HOST",
    "DJANGO_EMAIL_PORT",
    "DJANGO_EMAIL_HOST_USER",
    "DJANGO_EMAIL_HOST_PASSWORD",
    "DJANGO_EMAIL_USE_TLS",
)
_ADDRESS_RE = re.compile(r"^[^@\s<>,]+@[^@\s<>,]+$")


@dataclass(frozen=True)
class EmailSettings:
    """Django's EMAIL_* settings for sending mail."""

    backend: str = SMTP_BACKEND
    host: str = "localhost"
    port: int = 25
    user: str = ""
    password: str = ""
    use_tls: bool = False
    use_ssl: bool = False


def parse_email_url(url: str, name: str = "EMAIL_URL") -> EmailSettings:
    """Return the settings an e-mail URL describes; the URL itself is never echoed."""
    scheme, separator, _ = url.partition("://")
    scheme = scheme.lower()
    if not separator:
        raise ImproperlyConfigured(f"{name} has no scheme; expected {EMAIL_URL_EXPECTED}")
    if scheme == "console":
        return EmailSettings(backend=CONSOLE_BACKEND)
    if scheme not in SMTP_SCHEMES:
        raise ImproperlyConfigured(
            f"{name} has an unsupported scheme {scheme!r}; expected {EMAIL_URL_EXPECTED}"
        )
    default_port, use_tls, use_ssl = SMTP_SCHEMES[scheme]
    parts = urlsplit(url)
    try:
        port = parts.port or default_port
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} has a port that is not a number; expected {EMAIL_URL_EXPECTED}"
        ) from None
    if not parts.hostname:
        raise ImproperlyConfigured(f"{name} names no host; expected {EMAIL_URL_EXPECTED}")
    return EmailSettings(
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        use_tls=use_tls,
        use_ssl=use_ssl,
    )


def email_from_env() -> EmailSettings:
    """Return the e-mail settings from EMAIL_URL, or DJANGO_EMAIL_*, or Django's defaults.

    One source or the other, not both: which would win is not obvious.
    """
    url = env_str("EMAIL_URL", "")
    given = [name for name in SMTP_VARIABLES if env_str(name, "")]
    if url and given:
        raise ImproperlyConfigured(
            f"EMAIL_URL and {given[0]} are both set; expected one of them: EMAIL_URL alone, "
            "or the DJANGO_EMAIL_* variables"
        )
    if url:
        return parse_email_url(url)
    if not given:
        return EmailSettings()
    return EmailSettings(
        host=env_str("DJANGO_EMAIL_HOST", "localhost"),
        port=env_int("DJANGO_EMAIL_PORT", 25, minimum=1),
        user=env_str("DJANGO_EMAIL_HOST_USER", ""),
        password=env_str("DJANGO_EMAIL_HOST_PASSWORD", ""),
        use_tls=env_bool("DJANGO_EMAIL_USE_TLS", default=False),
    )


def admins_from_env(name: str = "DJANGO_ADMINS") -> list[tuple[str, str]]:
    """Return ADMINS from ``Name <address>, ...`` (a bare address works too); [] when unset."""
    value = env_str(name, "")
    if not value:
        return []
    admins = getaddresses([value])
    items = [item for item in _split_outside_quotes(value) if item.strip()]
    if len(admins) != len(items) or not all(_ADDRESS_RE.match(email) for _, email in admins):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a list of addresses; expected "
            '"Name <name@example.com>, Other <other@example.com>"'
        )
    return [(person, email) for person, email in admins]


def address_from_env(name: str, default: str) -> str:
    """Return an address setting (``name@example.com`` or ``Name <name@example.com>``)."""
    value = env_str(name, default)
    if not _ADDRESS_RE.match(parseaddr(value)[1]):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not an e-mail address; expected name@example.com "
            'or "Name <name@example.com>"'
        )
    return value


def _split_outside_quotes(value: str) -> list[str]:
    """Return ``value`` split at commas that are not inside double quotes."""
    return re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', value)
