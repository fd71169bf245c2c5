"""journal's start-up hook for the Python commands of `journal new` (see __init__.py here).

Written in the syntax Python 2.7 and 3.x share, with type comments: every Python on the PATH
reads this file, and one that cannot parse it would print an error before the program runs.
"""
import sys


def _journal_install():
    # type: () -> None
    import os

    address = os.environ.get("JOURNAL_HOOK")
    if not address or sys.version_info < (3, 8):
        return              # no run to report to, or an interpreter the hook does not serve
    loaded = set(sys.modules)
    try:
        import _journal_hook  # type: ignore[import-not-found]  # (found beside this file)

        _journal_hook.install(address)
    except Exception:
        pass                # the hook reports its own failures; it never stops a program
    # What importing the hook loaded besides itself (`__future__`, for its annotations) is
    # forgotten: the program finds sys.modules as it would without the hook.
    for name in set(sys.modules) - loaded - set(sys.builtin_module_names):
        if name != "_journal_hook":
            del sys.modules[name]


def _journal_chain():
    # type: () -> None
    """Run the sitecustomize this file hides (a user's own, a conda env's, Debian's), as Python
    would have: from the rest of sys.path, its errors reported by `site` as usual."""
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != here]
    # Look before importing anything: most Pythons have no other sitecustomize.
    names = ("sitecustomize.py", "sitecustomize.pyc", "sitecustomize")
    if not any(os.path.exists(os.path.join(entry or os.curdir, name))
               for entry in rest for name in names):
        return
    if sys.version_info >= (3, 4):
        import importlib.machinery
        import importlib.util

        spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
        if spec is None or spec.loader is None:
            return
        module = importlib.util.module_from_spec(spec)
        sys.modules["sitecustomize"] = module
        spec.loader.exec_module(module)
    else:
        import imp

        try:
            found = imp.find_module("sitecustomize", rest)
        except ImportError:
            return
        try:
            imp.load_module("sitecustomize", *found)
        finally:
            if found[0] is not None:
                found[0].close()


_journal_install()
_journal_chain()
