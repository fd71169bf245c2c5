"""What a script hands the API, made into what a record can hold: params (a dict, an
argparse.Namespace, a dataclass) and metric values (numbers, numpy and torch scalars too)."""

from __future__ import annotations

import sys
from collections.abc import Mapping

TYPE_CHECKING = False     # typing costs a script milliseconds to import
if TYPE_CHECKING:
    from typing import Any



def plain_params(params: Any) -> dict[str, Any]:
    """Params as a table a record can hold, from a dict, an argparse.Namespace (defaults and all),
    a dataclass or any object with attributes. A None value stays None (the record keeps it);
    values become what `journal new`'s hook makes of them (capture/pyhook), so a param reads
    the same whichever way it came."""
    from journal.capture.pyhook._journal_hook import plain_value

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
    return {str(name): plain_value(value) for name, value in items.items()}


def _is_dataclass_instance(value: Any) -> bool:
    # dataclasses is only loaded when the script uses it: then it is in sys.modules already.
    module = sys.modules.get("dataclasses")
    return module is not None and module.is_dataclass(value) and not isinstance(value, type)


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
