from ._users import UserCommand


class Command(UserCommand):
    help = "Create a user (with the personal organisation sign-up gives)."
