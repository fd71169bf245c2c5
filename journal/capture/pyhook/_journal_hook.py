"""What a Python command run by `journal new` tells its run: the arguments it parsed, defaults
included, and the environment it ran in. Installed by sitecustomize.py (this folder) at start-up.

It sends each report as one JSON document over the run's socket (`JOURNAL_HOOK`, a path the
wrapper listens on, capture/hook.py), and never writes a file: the wrapper masks secrets and
writes the record. What it reports:

- `params`: the namespace of each top-level `ArgumentParser.parse_known_args` (so `parse_args`,
  subparsers, parents, `set_defaults`, subclasses such as HfArgumentParser), the `ctx.params` of
  each click context (typer too), or Hydra's composed config (its own parser's options are not
  the program's). Parsers called from a launcher's code (torchrun, accelerate, deepspeed) are not
  the program's either: their workers report, and of those only rank 0.
- `environment`: at exit, the interpreter, the distributions of the modules the program imported
  (nothing is imported to find them), and the CUDA devices when the program initialised CUDA.

Invisible by design: modules are patched only when the program imports them (a finder on
sys.meta_path, nothing imported ahead), nothing is printed, what a patched call returns or
raises is untouched, and a failure here is reported as a problem and swallowed. Python 3.8+ (the
syntax here: no newer), under any interpreter the command picks.
"""

from __future__ import annotations

import _thread
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType, ModuleType
    from typing import Any

MAX_TEXT = 1000           # characters kept of a value that is text, or made text
MAX_ITEMS = 1000          # items kept of a list or a mapping
MAX_DEPTH = 20
MAX_NODES = 20000         # values visited in one report, in all
# Code that parses a launcher's or a framework's own command line, not the program's.
NOT_THE_PROGRAM = ("torch.distributed.", "accelerate.commands.", "deepspeed.launcher.",
                   "hydra.", "torch.distributed.run", "accelerate.commands")
# Variables that give a process its rank among the copies a launcher started (torchrun,
# accelerate, deepspeed; MPI; srun): only rank 0 reports.
RANK_VARIABLES = ("RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID")

_address = ""
_before: frozenset[str] = frozenset()    # modules loaded before the program (site, .pth files)
_depth: dict[int, int] = {}   # thread -> nested parse_known_args calls (a subparser's)
_hydra_reported = False
_last_sent = b""


def install(address: str) -> None:
    """Watch for the parsers the program will import, and report the environment at exit."""
    global _address, _before
    if _address or not _is_rank_zero():
        return
    _address = address
    _before = frozenset(name.partition(".")[0] for name in sys.modules)
    import atexit

    atexit.register(_safely, _report_environment)
    sys.meta_path.insert(0, _PostImport(WATCHED))
    for name, patch in WATCHED.items():
        module = sys.modules.get(name)
        if module is not None:                  # imported before us (by a .pth file)
            _safely(patch, module)


def _is_rank_zero() -> bool:
    return all(os.environ.get(name, "0") in ("", "0") for name in RANK_VARIABLES)


# -- values as a record holds them ----------------------------------------------------------------


def plain_value(value: Any) -> Any:
    """`value` as JSON and TOML can hold it: None, bool, int (64-bit, else text), float, text,
    lists and string-keyed tables of those; paths, enums, numpy and torch scalars by their value;
    functions and classes by their qualified name; anything else as text without its address
    (which would make two equal runs differ). At most MAX_NODES values are visited, and a
    container met again inside itself is text: a huge or cyclic default never stalls a parse."""
    return _Plain().value(value, 0)


class _Plain:
    def __init__(self) -> None:
        self.left = MAX_NODES
        self.open: set[int] = set()        # the containers being walked (a cycle comes back)

    def value(self, value: Any, depth: int) -> Any:
        self.left -= 1
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            if -(2**63) <= value < 2**63:
                return value
            try:
                return str(value)
            except ValueError:      # past str()'s 4,300 digits
                return f"<an int of {value.bit_length()} bits>"
        if isinstance(value, float):
            return value
        if isinstance(value, str):
            return value[:MAX_TEXT]
        if depth >= MAX_DEPTH or self.left <= 0 or id(value) in self.open:
            return "..."
        self.open.add(id(value))
        try:
            return self._inner(value, depth)
        finally:
            self.open.discard(id(value))

    def _inner(self, value: Any, depth: int) -> Any:
        if isinstance(value, dict) or _is_namespace(value):
            items = value.items() if isinstance(value, dict) else vars(value).items()
            found = {}
            for index, (key, item) in enumerate(items):
                if index >= MAX_ITEMS or self.left <= 0:
                    break
                found[str(key)] = self.value(item, depth + 1)
            return found
        if isinstance(value, (list, tuple, set, frozenset)):
            items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) \
                and len(value) <= MAX_ITEMS else value
            kept = []
            for index, item in enumerate(items):
                if index >= MAX_ITEMS or self.left <= 0:
                    break
                kept.append(self.value(item, depth + 1))
            return kept
        dataclasses = sys.modules.get("dataclasses")
        if dataclasses is not None and dataclasses.is_dataclass(value) \
                and not isinstance(value, type):
            return {field.name: self.value(getattr(value, field.name, None), depth + 1)
                    for field in dataclasses.fields(value)}
        item = getattr(value, "item", None)        # numpy and torch scalars
        if callable(item) and getattr(value, "ndim", None) == 0:
            try:
                return self.value(item(), depth + 1)
            except Exception:
                pass
        enum = sys.modules.get("enum")
        if enum is not None and isinstance(value, enum.Enum):
            return self.value(value.value, depth + 1)
        if isinstance(value, os.PathLike):
            return _text(os.fspath(value))
        if callable(value) and hasattr(value, "__qualname__"):    # set_defaults(func=train)
            module = getattr(value, "__module__", None)
            return f"{module}.{value.__qualname__}" if module not in (None, "__main__") \
                else str(value.__qualname__)
        name = getattr(value, "name", None)                       # argparse.FileType's files
        if isinstance(name, str) and hasattr(value, "fileno"):
            return name[:MAX_TEXT]
        return _text(value)


def _is_namespace(value: Any) -> bool:
    argparse = sys.modules.get("argparse")
    return argparse is not None and isinstance(value, argparse.Namespace)


def _text(value: Any) -> str:
    try:
        text = str(value)
    except Exception:
        text = object.__repr__(value)
    if " at 0x" in text:
        import re

        text = re.sub(r" at 0x[0-9A-Fa-f]+", "", text)
    return text[:MAX_TEXT]


# -- reports --------------------------------------------------------------------------------------


def _send(report: dict[str, Any]) -> None:
    """One report, one connection: the wrapper reads it to the end. A run whose wrapper is gone
    (the socket refuses) loses the report, and the program goes on."""
    import _socket

    global _last_sent
    report["pid"] = os.getpid()
    data = _json(report).encode("utf-8", "replace")
    if data == _last_sent:
        return                  # parse_args in a loop: said once
    _last_sent = data
    connection = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        connection.settimeout(5.0)
        connection.connect(_address)
        connection.sendall(data)
    except OSError:
        pass
    finally:
        connection.close()


def _forget_modules_since(loaded: set[str]) -> None:
    """Take out of sys.modules what the hook itself imported (json, _socket, ...): the program
    finds the modules it expects, as without the hook (a later import loads them again). Not
    the interpreter's built-in ones: Python 3.8 keeps atexit's callbacks in its module."""
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return     # another thread may be importing: its modules must stay
    for name in set(sys.modules) - loaded - set(sys.builtin_module_names):
        sys.modules.pop(name, None)


_ESCAPES = {**{chr(code): "\\u%04x" % code for code in range(32)},
            '"': '\\"', "\\": "\\\\", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _json(value: Any) -> str:
    """A report as JSON, without the json module: importing json at exit (json -> re -> enum
    -> functools) makes a namedtuple, which runs `eval`, and an `eval` after the program died
    of Ctrl-C makes CPython exit 1 instead of dying of SIGINT. Values are plain_value's."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)       # np.float64's own repr is `np.float64(0.1)`
    if isinstance(value, dict):
        return "{" + ",".join(_json(str(key)) + ":" + _json(item)
                              for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_json(item) for item in value) + "]"
    text = value if isinstance(value, str) else _text(value)
    return '"' + "".join(_ESCAPES.get(char, char) for char in text) + '"'


def _safely(call: Callable[..., object], *args: Any) -> None:
    """`call`, its failure reported and swallowed, the modules it imported forgotten."""
    loaded = set(sys.modules)
    try:
        call(*args)
    except Exception as exc:
        try:
            _send({"kind": "problem",
                   "text": f"the Python hook failed in {getattr(call, '__name__', call)}: "
                           f"{type(exc).__name__}: {exc}"[:MAX_TEXT]})
        except Exception:
            pass
    finally:
        _forget_modules_since(loaded)


def _report_params(parser: str, params: Any, defaults: list[str], *, from_argv: bool = True,
                   command: str | None = None) -> None:
    """`from_argv`: the parse read the program's command line (not a list the code gave it:
    such a parse never overrides one that did). `command`: a click subcommand's name."""
    report = {"kind": "params", "parser": parser, "params": plain_value(params),
              "defaults": defaults, "from_argv": from_argv, **_interpreter()}
    if command:
        report["command"] = command
    _send(report)


def _interpreter() -> dict[str, str]:
    return {"python": "%d.%d.%d" % sys.version_info[:3], "executable": sys.executable}


def _report_environment() -> None:
    report: dict[str, Any] = {"kind": "environment", **_interpreter()}
    found_packages = packages()
    if found_packages is not None:      # unknown (before 3.10) is not "none"
        report["packages"] = found_packages
    found = gpus()
    if found:
        report["gpus"] = found
    _send(report)


def packages() -> dict[str, str] | None:
    """The distributions (as pip names them) of the non-stdlib modules the program imported.

    Read from the .dist-info folders on sys.path, not with importlib.metadata: that module
    (like anything that makes a namedtuple) runs `eval`, and an `eval` after the program died
    of Ctrl-C makes the interpreter exit 1 instead of dying of SIGINT (CPython resets its
    "unhandled KeyboardInterrupt" flag on each eval)."""
    stdlib = getattr(sys, "stdlib_module_names", None)
    if stdlib is None:
        return None                             # before 3.10 stdlib and not cannot be told apart
    imported = list(sys.modules)
    tops = {name.partition(".")[0] for name in imported}
    tops -= set(stdlib) | set(sys.builtin_module_names) | _before | {"__main__", "__mp_main__"}
    # A namespace package (`google`) is shared by many distributions: there the second level
    # (`google.protobuf`) tells which of them the program imported.
    wanted = tops | {".".join(name.split(".")[:2]) for name in imported
                     if name.count(".") >= 1 and name.partition(".")[0] in tops}
    found: dict[str, str] = {}
    for folder in dict.fromkeys(sys.path):
        if not wanted:
            break
        try:
            names = os.listdir(folder or os.curdir)
        except OSError:
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")) and wanted:
                info = os.path.join(folder or os.curdir, name)
                provided = _provided(info) & wanted
                if provided:
                    distribution, version = _name_and_version(info)
                    if distribution:
                        found[distribution] = version
                        wanted -= provided
    return dict(sorted(found.items(), key=lambda item: item[0].lower()))


def _provided(info: str) -> set[str]:
    """The modules a distribution installs, as the names `packages` looks for: each top-level
    module it owns (has the `__init__.py` of, or is the file of), and `top.second` for its
    modules under a top it shares (a namespace package such as `google`). From RECORD, else
    top_level.txt."""
    owned: set[str] = set()
    shared: set[str] = set()
    for listing in ("RECORD", "installed-files.txt"):
        try:
            with open(os.path.join(info, listing), encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    parts = line.split(",", 1)[0].strip().replace("\\", "/").split("/")
                    top = parts[0]
                    if len(parts) == 1:                       # a module file, an extension
                        if top.endswith(".py"):
                            owned.add(top[:-3])
                        elif top.endswith((".so", ".pyd")):
                            owned.add(top.split(".", 1)[0])
                    elif top not in ("..", "__pycache__") and not top.endswith(
                            (".dist-info", ".egg-info", ".data")):
                        if parts[1] == "__init__.py":
                            owned.add(top)
                        shared.add(f"{top}.{parts[1].split('.', 1)[0]}")
        except OSError:
            continue
        if owned or shared:
            return owned | shared
    try:                                     # no file list: the names it declares
        with open(os.path.join(info, "top_level.txt"), encoding="utf-8",
                  errors="replace") as handle:
            return {line.strip() for line in handle if line.strip()}
    except OSError:
        return set()


def _name_and_version(info: str) -> tuple[str, str]:
    name = version = ""
    for metadata in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(info, metadata), encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if not line.strip():
                        break                        # the headers end at the first blank line
                    key, _, value = line.partition(":")
                    if key == "Name":
                        name = value.strip()
                    elif key == "Version":
                        version = value.strip()
        except OSError:
            continue
        if name:
            break
    return name, version


def gpus() -> list[str]:
    """The CUDA devices, when the program initialised CUDA itself (never initialised here)."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    if cuda is None or not cuda.is_initialized():
        return []
    return [str(cuda.get_device_name(index)) for index in range(cuda.device_count())]


def _caller(skip: tuple[str, ...]) -> str:
    """The module whose code made the current call, passing over `skip` and this module; the
    main module by its real name (`python -m torch.distributed.run` runs as `__main__`)."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        name = str(frame.f_globals.get("__name__", ""))
        if name not in skip and name != __name__:
            spec = frame.f_globals.get("__spec__")
            return str(getattr(spec, "name", name)) if name == "__main__" and spec else name
        frame = frame.f_back
    return ""


def _the_programs(caller: str) -> bool:
    return not caller.startswith(NOT_THE_PROGRAM)


def _standing_in_for(original: Callable[..., Any], wrapper: Callable[..., Any]
                     ) -> Callable[..., Any]:
    """`wrapper`, named and documented as `original` (help() and tracebacks read the same), and
    marked so that a module patched twice is not wrapped twice."""
    for name in ("__name__", "__qualname__", "__doc__", "__module__"):
        try:
            setattr(wrapper, name, getattr(original, name))
        except (AttributeError, TypeError):
            pass
    wrapper._journal_original = original       # type: ignore[attr-defined]
    wrapper.__wrapped__ = original             # type: ignore[attr-defined]  # inspect.signature
    return wrapper


# -- argparse -------------------------------------------------------------------------------------


def _patch_argparse(argparse: ModuleType) -> None:
    parser_class = argparse.ArgumentParser
    for method in ("parse_known_args", "parse_known_intermixed_args"):
        original = parser_class.__dict__.get(method)
        if original is not None and not hasattr(original, "_journal_original"):
            setattr(parser_class, method, _watched_parse(original))


def _watched_parse(original: Callable[..., Any]) -> Callable[..., Any]:
    def parse(self: Any, *args: Any, **kwargs: Any) -> Any:
        thread = _thread.get_ident()
        _depth[thread] = _depth.get(thread, 0) + 1
        try:
            result = original(self, *args, **kwargs)
        finally:
            _depth[thread] -= 1
        if _depth[thread] == 0 and _the_programs(_caller(("argparse",))):
            given = args[0] if args else kwargs.get("args")
            _safely(_report_argparse, self, result[0], given is None)
        return result

    return _standing_in_for(original, parse)


def _report_argparse(parser: Any, namespace: Any, from_argv: bool) -> None:
    values = dict(vars(namespace))
    defaults = _argparse_defaults(parser)
    at_default = []
    for name, value in values.items():
        if name in defaults and _same(value, defaults[name]):
            at_default.append(name)
    _report_params("argparse", values, at_default, from_argv=from_argv)


def _argparse_defaults(parser: Any) -> dict[str, tuple[Any, Any]]:
    """dest -> (its default, the action's type) over the parser and its subparsers."""
    import argparse

    found: dict[str, tuple[Any, Any]] = {}
    seen: set[int] = set()

    def walk(current: Any) -> None:
        if id(current) in seen:
            return
        seen.add(id(current))
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)
            elif action.dest != argparse.SUPPRESS and action.dest not in found:
                found[action.dest] = (current._defaults.get(action.dest, action.default),
                                      action.type)
        for dest, value in current._defaults.items():
            found.setdefault(dest, (value, None))

    walk(parser)
    return found


def _same(value: Any, default: tuple[Any, Any]) -> bool:
    """argparse gives a string default through the argument's type (`default="0.1"`, type=float)."""
    wanted, kind = default
    if isinstance(wanted, str) and callable(kind) and not isinstance(value, str):
        try:
            wanted = kind(wanted)
        except Exception:
            return False
    try:
        return type(value) is type(wanted) and bool(value == wanted)
    except Exception:
        return False


# -- click and typer ------------------------------------------------------------------------------


def _patch_click(core: ModuleType) -> None:
    """click's `make_context` (click itself, or the copy typer bundles as typer._click)."""
    for class_name in ("BaseCommand", "Command"):
        owner = getattr(core, class_name, None)
        original = owner.__dict__.get("make_context") if owner is not None else None
        if original is not None and not hasattr(original, "_journal_original"):
            setattr(owner, "make_context", _watched_context(original, core))
            return


def _watched_context(original: Callable[..., Any], core: ModuleType) -> Callable[..., Any]:
    def make_context(self: Any, *args: Any, **kwargs: Any) -> Any:
        context = original(self, *args, **kwargs)
        if not getattr(context, "resilient_parsing", False):
            _safely(_report_click, context, core)
        return context

    return _standing_in_for(original, make_context)


def _report_click(context: Any, core: ModuleType) -> None:
    source = getattr(context, "get_parameter_source", None)
    sources = getattr(core, "ParameterSource", None)
    default_sources = {getattr(sources, name, None) for name in ("DEFAULT", "DEFAULT_MAP")}
    values = dict(context.params)
    at_default = [name for name in values
                  if source is not None and source(name) in default_sources - {None}]
    parent = getattr(context, "parent", None)
    _report_params("typer" if core.__name__.startswith("typer") else "click", values, at_default,
                   command=str(context.info_name) if parent is not None else None)


# -- Hydra ----------------------------------------------------------------------------------------


def _patch_hydra(callbacks: ModuleType) -> None:
    owner = getattr(callbacks, "Callbacks", None)
    original = owner.__dict__.get("on_job_start") if owner is not None else None
    if original is None or hasattr(original, "_journal_original"):
        return

    def on_job_start(self: Any, *args: Any, **kwargs: Any) -> Any:
        # Called just before the task function, with the job's config (Hydra's own node still
        # in): the task itself then runs with no frame of this module around it.
        config = kwargs.get("config", args[0] if args else None)
        if config is not None:
            _safely(_report_hydra, config)
        return original(self, *args, **kwargs)

    setattr(owner, "on_job_start", _standing_in_for(original, on_job_start))


def _report_hydra(config: Any) -> None:
    global _hydra_reported
    if _hydra_reported:
        return          # a multirun: the first job's config (each job is its own experiment)
    _hydra_reported = True
    from omegaconf import Container, OmegaConf

    raw = {str(key): OmegaConf.to_container(config._get_node(key), resolve=False)
           if isinstance(config._get_node(key), Container) else config._get_node(key)._value()
           for key in config if key != "hydra"}
    if _calls_a_resolver_of_its_own(raw):
        # Resolving `${draw:}` again would run the program's resolver once more (a new random
        # seed, a second run folder) and record a value it never used: recorded as written.
        _report_params("hydra", raw, [])
        return
    composed: dict[str, Any] = {}
    for key in config:              # Hydra's own node is not the program's config
        if key == "hydra":
            continue
        try:
            node = config._get_node(key)
            value = config[key]     # a scalar's interpolation is resolved on access
            if isinstance(value, Container):
                value = OmegaConf.to_container(value, resolve=True)
        except Exception:           # one that cannot be resolved: recorded as written
            value = OmegaConf.to_container(node, resolve=False) if isinstance(node, Container) \
                else getattr(node, "_value", lambda: None)()
        composed[str(key)] = value
    _report_params("hydra", composed, [])


# Resolvers that only read: resolving their interpolations again changes nothing.
PURE_RESOLVERS = frozenset({"hydra", "oc.env", "oc.decode", "oc.select", "oc.create",
                            "oc.deprecated", "oc.dict.keys", "oc.dict.values"})


def _calls_a_resolver_of_its_own(value: Any) -> bool:
    import re

    if isinstance(value, dict):
        return any(_calls_a_resolver_of_its_own(item) for item in value.values())
    if isinstance(value, list):
        return any(_calls_a_resolver_of_its_own(item) for item in value)
    if isinstance(value, str) and "${" in value:
        names = re.findall(r"\$\{\s*([\w.\-]+)\s*:", value)
        return any(name not in PURE_RESOLVERS for name in names)
    return False


# -- patching modules when the program imports them ----------------------------------------------


WATCHED: dict[str, Callable[[ModuleType], None]] = {
    "argparse": _patch_argparse,
    "click.core": _patch_click,
    "typer._click.core": _patch_click,          # typer 0.20+ bundles its own click
    "hydra._internal.callbacks": _patch_hydra,
}


class _PostImport:
    """A finder that finds nothing itself: for a watched module it asks the finders after it,
    and has the module patched right after it is executed, before its importer sees it."""

    def __init__(self, watched: dict[str, Callable[[ModuleType], None]]) -> None:
        self.watched = watched

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        patch = self.watched.get(name)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        spec.loader = _PatchingLoader(loader, patch)   # type: ignore[assignment]
        return spec


class _PatchingLoader:
    def __init__(self, loader: Any, patch: Callable[[ModuleType], None]) -> None:
        self.loader = loader
        self.patch = patch

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # The module keeps its own loader, as if this one had never been there.
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        _safely(self.patch, module)

    def __getattr__(self, name: str) -> Any:       # get_data, get_filename, is_package, ...
        return getattr(self.loader, name)
