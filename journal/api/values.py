"""What a script hands the API, made into what a record can hold: params (a dict, an
argparse.Namespace, a dataclass) and metric values (numbers, numpy and torch scalars too)."""

from __future__ import annotations

import sys
from collections.abc import Mapping

TYPE_CHECKING = False     # typing costs a script milliseconds to import
if TYPE_CHECKING:
    from typing import Any

MAX_TEXT = 1000           # characters kept of a param that is neither a number nor text


def plain_params(params: Any) -> dict[str, Any]:
    """Params as a table a record can hold, from a dict, an argparse.Namespace (defaults and all),
    a dataclass or any object with attributes. None values are left out (TOML has no null)."""
    if params is None:
        return {}
    if isinstance(params, Mapping):
        items = dict(params)
    elif _is_dataclass_instance(params):
        import dataclasses

        items = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    elif hasattr(params, "__dict__"):
        items = {k: v for k, v in vars(params).items() if not str(k).startswith("_")}
    else:
        raise TypeError(f"journal: params must be a dict, an argparse.Namespace or a dataclass, "
                        f"not {type(params).__name__}")
    plain = {str(name): _plain(value) for name, value in items.items()}
    return {name: value for name, value in plain.items() if value is not None}


def _is_dataclass_instance(value: Any) -> bool:
    # dataclasses is only loaded when the script uses it: then it is in sys.modules already.
    module = sys.modules.get("dataclasses")
    return module is not None and module.is_dataclass(value) and not isinstance(value, type)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, float):
        return value
    if isinstance(value, Mapping):
        table = {str(k): _plain(v) for k, v in value.items()}
        return {k: v for k, v in table.items() if v is not None}
    if _is_dataclass_instance(value):
        return plain_params(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [item for item in map(_plain, value) if item is not None]
    item = getattr(value, "item", None)      # numpy and torch scalars
    if callable(item) and getattr(value, "ndim", None) == 0:
        try:
            return _plain(item())
        except (TypeError, ValueError):
            pass
    from enum import Enum

    if isinstance(value, Enum):
        return _plain(value.value)
    return str(value)[:MAX_TEXT]            # paths, devices, anything else: as text


def metric_value(name: str, value: Any) -> int | float | bool:
    import numbers

    if isinstance(value, bool):
        return value
    item = getattr(value, "item", None)      # numpy and torch scalars, 1-element tensors
    if callable(item) and not isinstance(value, numbers.Number):
        try:
            value = item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"journal: metric {name!r} must be a number, not {type(value).__name__}")


def step_value(step: Any) -> int:
    import numbers

    if isinstance(step, numbers.Integral) and not isinstance(step, bool):
        return int(step)
    raise TypeError(f"journal: step must be an integer, not {type(step).__name__}")
