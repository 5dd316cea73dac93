"""The project's own user model, users.User, is the auth model, in the admin too."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tests.web.conftest import REPO_ROOT
from users.models import User


def test_users_user_is_the_auth_model() -> None:
    assert settings.AUTH_USER_MODEL == "users.User"
    assert get_user_model() is User


@pytest.mark.django_db
def test_create_user_hashes_the_password_and_grants_nothing() -> None:
    user = User.objects.create_user("ada", "ada@example.com", "correct horse battery")

    assert user.pk is not None
    assert user.check_password("correct horse battery")
    assert user.password != "correct horse battery"
    assert not user.is_staff
    assert not user.is_superuser
    assert get_user_model().objects.get(username="ada").email == "ada@example.com"


@pytest.mark.django_db
def test_create_superuser_can_use_the_admin(client: Client) -> None:
    admin = User.objects.create_superuser("root", "root@example.com", "correct horse battery")
    User.objects.create_user("grace", "grace@example.com")
    assert admin.is_staff
    assert admin.is_superuser

    client.force_login(admin)
    response = client.get(reverse("admin:users_user_changelist"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "grace" in page
    assert "root@example.com" in page


@pytest.mark.django_db
def test_the_changelist_is_closed_to_anonymous_users(client: Client) -> None:
    response = client.get(reverse("admin:users_user_changelist"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_models_and_migrations_agree() -> None:
    """A model change without its migration fails here, not at a deployment's migrate."""
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run", "--skip-checks"],
        cwd=REPO_ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout
