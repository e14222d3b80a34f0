"""``python -m codemods``: the ``refactor`` command line."""

from codemods.cli import app

if __name__ == "__main__":
    app(prog_name="refactor")
