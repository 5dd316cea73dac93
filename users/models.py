"""The project's own user model, as Django's documentation recommends for every project.

It adds nothing to Django's ``AbstractUser`` yet; add fields here later (with a migration)
instead of switching AUTH_USER_MODEL mid-project, which Django cannot do for you.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A user of the site: Django's username, password, e-mail, names and permissions."""
