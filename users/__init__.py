"""The project's user model: users.User, Django's AbstractUser to start with."""
