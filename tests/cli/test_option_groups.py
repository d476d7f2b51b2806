"""Option groups: a command takes a group of options as one parameter; Typer sees every option."""

from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from mova_tui.cli.option_groups import OptionGroup, with_option_groups


class Paging(OptionGroup):
    """Two options taken as one parameter."""

    limit: Annotated[int, typer.Option("--limit", "-n")] = 10
    page_all: Annotated[bool, typer.Option("--all")] = False


def test_a_group_is_one_parameter_and_its_options_reach_the_command():
    app = typer.Typer()
    seen: list[Paging] = []

    @app.command()
    @with_option_groups
    def show(name: str, paging: Paging, loud: bool = False) -> None:
        seen.append(paging)
        print(name, paging.limit, paging.page_all, loud)

    result = CliRunner().invoke(app, ["x", "-n", "3", "--all", "--loud"])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["x", "3", "True", "True"]
    assert seen[0].changed() == ["--limit", "--all"]
    assert Paging().changed() == [] and "limit=10" in repr(Paging())
    help_text = CliRunner().invoke(app, ["--help"]).stdout
    assert "--limit" in help_text and "--all" in help_text and "--paging" not in help_text


def test_a_name_taken_twice_is_refused():
    def clash(limit: int, paging: Paging) -> None: ...

    with pytest.raises(TypeError, match="repeats a parameter name"):
        with_option_groups(clash)
    with pytest.raises(TypeError, match="unknown option"):
        Paging(limits=3)
