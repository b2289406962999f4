"""manage.py create_api_token USER NAME: create an API token and print its key, once."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from api.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for USER; its key is printed once and cannot be shown again."

    def add_arguments(self, parser):
        parser.add_argument("user", help="Username of the staff member the token acts as.")
        parser.add_argument("name", help="What the token is for, e.g. 'EHR sync'.")

    def handle(self, *args, user, name, **options):
        owner = get_user_model().objects.filter(username=user, is_active=True).first()
        if owner is None:
            raise CommandError(f"No active user named '{user}'.")
        issued = api_token_create(user=owner, name=name)
        self.stderr.write(f"Token '{name}' for {user} created; the key is shown only this once:")
        self.stdout.write(issued.key)
