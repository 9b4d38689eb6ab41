"""Create the first admin user, printing its generated password once.

    manage.py ensure_admin [--username admin]

Does nothing (and prints no password) when a superuser already exists. With -v 0 it prints only
the password, bare, when it creates the user (PASSWORD=$(manage.py ensure_admin -v 0)), and nothing
otherwise.
"""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an admin user with a generated password (printed once) unless a superuser exists."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin", help="Username of the admin (default admin).")
        parser.add_argument("--email", default="", help="Optional e-mail address.")

    def handle(self, *args, username: str, email: str, verbosity: int, **options):
        users = get_user_model()
        existing = users.objects.filter(is_superuser=True).order_by("pk").first()
        if existing is not None:
            if verbosity < 1:
                return
            self.stdout.write(
                f"Admin user '{existing.get_username()}' already exists "
                f"(reset its password with: manage.py changepassword {existing.get_username()})."
            )
            return
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, email=email, password=password)
        if verbosity < 1:
            self.stdout.write(password)  # the one thing the caller cannot have otherwise
            return
        self.stdout.write(self.style.SUCCESS(f"Created admin user '{username}' with password: {password}"))
        self.stdout.write("This password is shown only once; keep it somewhere safe.")
