"""The start-up hook of a Python command run by `journal new` (capture/hook.py sets it up).

This folder is put at the front of the command's PYTHONPATH, so every Python that the command
starts imports `sitecustomize` from here: that file (written in Python 2 syntax, as any Python on
the PATH may read it) installs `_journal_hook` on Python 3.8 and newer, then runs the
`sitecustomize` it hides. Nothing here imports journal: the command's interpreter may be another
Python, in another environment, without journal installed.
"""
