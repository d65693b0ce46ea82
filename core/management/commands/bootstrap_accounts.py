"""`manage.py bootstrap_accounts`: the researcher admin account and demo annotator accounts, idempotently."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction

from config.roles import ANNOTATORS, RESEARCHERS


class Command(BaseCommand):
    help = (
        "Create (or update) the admin account in the researchers group and N demo annotator accounts "
        "(demo1..N, the names the demo campaign uses). Passwords: --admin-password / --annotator-password, else generated and printed."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--admin-username", default="admin")
        parser.add_argument("--admin-password", default="", help="default: keep an existing one, else generate")
        parser.add_argument("--annotators", type=int, default=9, help="demo annotator accounts (default 9)")
        parser.add_argument("--annotator-prefix", default="demo", help="their names: PREFIX1..PREFIXN (default demo)")
        parser.add_argument("--annotator-password", default="", help="default: keep existing ones, else generate")

    @transaction.atomic
    def handle(self, *args, admin_username: str, admin_password: str, annotators: int, annotator_password: str,
               annotator_prefix: str, **options) -> None:
        researchers = Group.objects.get_or_create(name=RESEARCHERS)[0]
        annotator_group = Group.objects.get_or_create(name=ANNOTATORS)[0]

        admin, created = User.objects.get_or_create(username=admin_username)
        admin.is_staff = admin.is_superuser = admin.is_active = True
        password = self._password(admin, created, admin_password)
        admin.save()
        admin.groups.add(researchers)
        self._report("admin", admin_username, password)

        # All demo annotators share one password: given, or generated when any account is new.
        shared = annotator_password or secrets.token_urlsafe(9)
        shown = ""
        for i in range(1, annotators + 1):
            user, created = User.objects.get_or_create(username=f"{annotator_prefix}{i}")
            if annotator_password or created or not user.has_usable_password():
                user.set_password(shared)
                shown = shared
            user.is_active = True
            user.save()
            user.groups.add(annotator_group)
        if annotators:
            self._report("annotators", f"{annotator_prefix}1..{annotator_prefix}{annotators}", shown)

    def _password(self, user: User, created: bool, wanted: str) -> str:
        """Set `wanted` (or a generated one for a new account); '' when an existing password is kept."""
        if wanted:
            user.set_password(wanted)
            return wanted
        if created or not user.has_usable_password():
            generated = secrets.token_urlsafe(12)
            user.set_password(generated)
            return generated
        return ""

    def _report(self, role: str, username: str, password: str) -> None:
        shown = password or "(unchanged)"
        self.stdout.write(f"{role}: {username} / {shown}")
