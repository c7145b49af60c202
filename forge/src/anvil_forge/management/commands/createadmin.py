from ._users import UserCommand


class Command(UserCommand):
    help = "Create a user who may also use Django's admin site (no extra rights inside organisations)."
    site_admin = True
