"""`ivr web-users list|add|remove`: the dashboard's users file, for the first admin and scripts."""

from __future__ import annotations

from pathlib import Path

import click

from ivr.web import DEFAULT_USERS_FILE
from ivr.web.users import WEB_ROLES, UserError, UserFile, make_user

FILE_OPTION = click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path),
                           default=DEFAULT_USERS_FILE, show_default=True, help="The users file.")


@click.group("web-users")
def web_users() -> None:
    """Users of the web dashboard (roles operator, staff, admin)."""


@web_users.command("list")
@FILE_OPTION
def list_users(path: Path) -> None:
    for user in sorted(UserFile(path).load().values(), key=lambda u: u.username):
        click.echo(f"{user.username}\t{user.role}")


@web_users.command("add")
@FILE_OPTION
@click.argument("username")
@click.option("--role", type=click.Choice(WEB_ROLES), required=True)
@click.password_option(prompt="Password", help="Prompted for when not given.")
def add_user(path: Path, username: str, role: str, password: str) -> None:
    try:
        UserFile(path).add(make_user(username, role, password))
    except UserError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"added {username} ({role})")


@web_users.command("remove")
@FILE_OPTION
@click.argument("username")
def remove_user(path: Path, username: str) -> None:
    try:
        UserFile(path).remove(username)
    except UserError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"removed {username}")


commands = [web_users]
