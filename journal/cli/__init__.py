"""The command line: `main` (the executable) reads a plain `journal new` by hand and hands every
other command to the typer app (`app`); both only translate between the user and the library."""
