"""The users app."""

from django.apps import AppConfig


class UsersConfig(AppConfig):
    """The custom user model and its admin."""

    name = "users"
    verbose_name = "Users"
