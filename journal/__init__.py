"""journal: a git-integrated experiment journal.

Importing this package must stay cheap: it is imported by every `journal` command and by
research scripts, so nothing heavy (git, typer, tomlkit, markdown_it) is imported here.
"""

__version__ = "0.1.0"
