"""A minimal Typer app with one command: the fairer start-up reference for `mova --help` and `mova dlq list`.

Typer 0.29 imports pydantic (and more) when an app runs, which `python -c "import typer, rich"` does
not, so this is the least a Typer CLI can cost: `python benchmarks/minimal_typer.py [--help]`.
"""

import typer

app = typer.Typer()


@app.command()
def hello(name: str = "world") -> None:
    """Say hello."""
    print(f"hello {name}")


if __name__ == "__main__":
    app()
