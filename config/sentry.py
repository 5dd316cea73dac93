"""Error reports to Sentry, when SENTRY_DSN is set: production settings call init_sentry().

A project gets this module, the call and sentry-sdk in requirements/production.txt when it
answered yes to copier's ``sentry`` question. Personal data (user ids, IP addresses, cookies)
is not sent unless you change ``send_default_pii``.
"""

from __future__ import annotations

import sentry_sdk
from django.core.exceptions import ImproperlyConfigured
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.utils import BadDsn, Dsn

from config.env import env_float, env_str

DSN_EXPECTED = "https://KEY@HOST/PROJECT_ID, from the Sentry project's Client Keys (DSN) page"


def init_sentry() -> bool:
    """Start Sentry's SDK if SENTRY_DSN is set; return whether it was started."""
    dsn = env_str("SENTRY_DSN", "")
    if not dsn:
        return False
    try:
        Dsn(dsn)
    except BadDsn:
        # The DSN holds the project's key: name the variable, not the value.
        raise ImproperlyConfigured(
            f"SENTRY_DSN is not a Sentry DSN; expected {DSN_EXPECTED}"
        ) from None
    sentry_sdk.init(
        dsn=dsn,
        environment=env_str("SENTRY_ENVIRONMENT", "production"),
        traces_sample_rate=env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0, maximum=1.0),
        integrations=[DjangoIntegration()],
        send_default_pii=False,
    )
    return True
