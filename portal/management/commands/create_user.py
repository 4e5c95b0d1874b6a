"""Create (or update) a portal user with a role: `manage.py create_user alice --role analyst`."""

from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from portal import audit
from portal.roles import Role, role_group


class Command(BaseCommand):
    help = "Create a user with a role (analyst, manager or admin), or update an existing one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--role", required=True, choices=[r.value for r in Role], action="append"
        )
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="Prompted for when omitted.")
        parser.add_argument(
            "--skip-password-validation",
            action="store_true",
            help="Accept a weak password (demo data only).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password = options["password"]
        if password is None:
            password = getpass.getpass("Password: ")
        if not options["skip_password_validation"]:
            try:
                validate_password(password)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from exc
        user_model = get_user_model()
        with transaction.atomic():
            user, created = user_model.objects.get_or_create(
                username=options["username"], defaults={"email": options["email"]}
            )
            user.set_password(password)
            if options["email"]:
                user.email = options["email"]
            roles = sorted(set(options["role"]))
            user.is_staff = Role.ADMIN.value in roles
            user.save()
            user.groups.set([role_group(role) for role in roles])
            audit.record(
                actor=None,
                action="user.provisioned",
                target=user,
                details={"roles": roles, "created": created, "via": "manage.py create_user"},
            )
        verb = "Created" if created else "Updated"
        self.stdout.write(self.style.SUCCESS(f"{verb} {user.username} ({', '.join(roles)})"))
