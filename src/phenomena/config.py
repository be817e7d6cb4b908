"""Typed, frozen, nested configs: declarative constraints, dotted overrides, validation and the run id.

Every experiment's ``Config`` is a :func:`config` class (a frozen dataclass) whose fields are scalars (int,
float, bool, str, ``Literal[...]``, ``None``), tuples of scalars, or nested config sections. A field's
constraints and help are data::

    @config
    class Train:
        steps: int = field(400, positive, help="optimizer steps")
        weight_decay: float = field(2.0, at_least(0), help="decoupled weight decay")

and are checked generically when the config is built: an impossible value raises :class:`ConfigError` naming
the dotted key, the constraint and the value (``train.steps must be positive; got 0``). Rules across fields
stay small ``__post_init__`` methods that call :func:`require`. A user changes a config with dotted overrides
such as ``train.weight_decay=0``; each value is parsed and checked against the field's annotation, and
unknown keys are rejected by name with the valid choices.

The run id is the hash of the canonical JSON of the fully resolved config (plus the experiment name and the
package version), so the same config always maps to the same stored run.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import math
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, get_args, get_origin, get_type_hints

from phenomena.errors import ConfigError


def require(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``condition`` holds (for cross-field rules in
    ``__post_init__``; the message names the dotted keys itself)."""
    if not condition:
        raise ConfigError(message)


@dataclasses.dataclass(frozen=True)
class Constraint:
    """A rule on one field's value: ``text`` completes "KEY ..." (``must be positive``), ``test`` decides it.

    A tuple value satisfies a constraint when each of its elements does; ``None`` (where a field allows it,
    e.g. "full batch") is not constrained.
    """

    text: str
    test: Callable[[Any], bool]
    short: str = ""  # the rule in symbols, for tables: "> 0", ">= 2", "in (0, 1)"
    int_text: str = ""  # the words for an integer field, where they differ ("must be a positive integer")

    def message(self, value: Any) -> str:
        """What a user reads after the key: the rule, in the words for this value's type."""
        is_int = isinstance(value, int) or (isinstance(value, tuple) and all(isinstance(v, int) for v in value))
        return self.int_text if (self.int_text and is_int) else self.text

    def holds(self, value: Any) -> bool:
        if value is None:
            return True
        if isinstance(value, tuple):
            return all(self.holds(v) for v in value)
        return bool(self.test(value))

    def __str__(self) -> str:
        return self.text


positive = Constraint("must be positive", lambda v: v > 0, "> 0", "must be a positive integer")


def at_least(bound: float) -> Constraint:
    """``value >= bound``."""
    return Constraint(f"must be >= {bound:g}", lambda v: v >= bound, f">= {bound:g}")


def at_most(bound: float) -> Constraint:
    """``value <= bound``."""
    return Constraint(f"must be <= {bound:g}", lambda v: v <= bound, f"<= {bound:g}")


def between(low: float, high: float, closed: str = "()") -> Constraint:
    """``value`` in the interval from ``low`` to ``high``; ``closed`` gives the brackets: ``"()"`` open,
    ``"[]"`` closed, ``"[)"`` or ``"(]"`` half-open."""
    if len(closed) != 2 or closed[0] not in "([" or closed[1] not in ")]":
        raise ValueError(f"closed must be two brackets such as '[)'; got {closed!r}")
    lo_ok = (lambda v: v >= low) if closed[0] == "[" else (lambda v: v > low)
    hi_ok = (lambda v: v <= high) if closed[1] == "]" else (lambda v: v < high)
    interval = f"{closed[0]}{low:g}, {high:g}{closed[1]}"
    return Constraint(f"must lie in {interval}", lambda v: lo_ok(v) and hi_ok(v), f"in {interval}")


def one_of(*choices: str) -> Constraint:
    """``value`` is one of ``choices`` (names such as activations, whose list lives in another module)."""
    listed = ", ".join(choices)
    return Constraint(f"must be one of {listed}", lambda v: v in choices, f"one of {listed}")


def field(default: Any, *constraints: Constraint, help: str = "") -> Any:  # noqa: A002 - the word users know
    """A config field: its default, its constraints (checked whenever the config is built) and its help text
    (shown by ``phenomena config NAME``)."""
    for c in constraints:
        if not isinstance(c, Constraint):
            raise TypeError(f"constraints must be Constraint objects (positive, at_least(0), ...); got {c!r}")
    return dataclasses.field(default=default, metadata={"constraints": constraints, "help": help})


def config(cls: type) -> type:
    """Make ``cls`` a frozen config dataclass whose field constraints are checked on construction (before the
    class's own ``__post_init__``, which holds the cross-field rules).

    A constraint error names the field; a nested section's error is re-raised by its parent with the dotted
    path (``train.lr``), so the message a user sees names the key they typed.
    """
    own = cls.__dict__.get("__post_init__")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            for c in f.metadata.get("constraints", ()):
                if not c.holds(value):
                    raise ConfigError(f"{f.name} {c.message(value)}; got {value!r}", key=f.name)
        if own is not None:
            own(self)

    cls.__post_init__ = __post_init__
    return dataclasses.dataclass(frozen=True)(cls)


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    """One leaf of a config as ``phenomena config`` shows it."""

    key: str
    type: str
    default: Any
    constraints: tuple[str, ...]
    help: str


def describe_fields(config: Any, prefix: str = "") -> list[FieldInfo]:
    """Every dotted leaf key of ``config`` with its type, value (the default of this config), constraints and
    help, in declaration order."""
    out = []
    hints = get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out.extend(describe_fields(value, f"{prefix}{f.name}."))
        else:
            constraints = tuple(c.short or c.text for c in f.metadata.get("constraints", ()))
            out.append(
                FieldInfo(prefix + f.name, _type_name(hints[f.name]), value, constraints, f.metadata.get("help", ""))
            )
    return out


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(annotation))
    if origin in (types.UnionType, typing.Union):
        return " | ".join(_type_name(a) for a in get_args(annotation))
    if origin is tuple:
        args = get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"tuple[{_type_name(args[0])}, ...]"
        return f"tuple[{', '.join(_type_name(a) for a in args)}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def field_keys(config: Any, prefix: str = "") -> list[str]:
    """All dotted leaf keys of a config, in declaration order (``['data.p', 'data.op', ...]``)."""
    keys = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            keys.extend(field_keys(value, f"{prefix}{f.name}."))
        else:
            keys.append(prefix + f.name)
    return keys


def to_dict(config: Any) -> dict:
    """The config as plain nested dicts and lists (JSON-ready)."""
    return json.loads(canonical_json(config))


def flat(config: Any) -> dict[str, Any]:
    """The config (or its dict) as dotted key -> JSON-ready value (``{"train.lr": 0.001, ...}``), keys sorted."""

    def walk(node: dict, prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            if isinstance(value, dict):
                out.update(walk(value, f"{prefix}{key}."))
            else:
                out[prefix + key] = value
        return out

    return walk(config if isinstance(config, dict) else to_dict(config), "")


def config_diff(base: Any, config: Any) -> dict[str, Any]:
    """The dotted keys where ``config`` differs from ``base`` (configs or their dicts), with ``config``'s values."""
    old, new = flat(base), flat(config)
    return {k: v for k, v in new.items() if old.get(k, object()) != v}


def canonical_json(config: Any) -> str:
    """Sorted-key, whitespace-free JSON of a config: the form that is hashed into the run id."""

    def plain(value):
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        return value

    return json.dumps(plain(config), sort_keys=True, separators=(",", ":"), allow_nan=False)


def run_id(experiment: str, config: Any, version: str, unused: Iterable[str] = ()) -> str:
    """A 12-hex-digit id for (experiment, config, package version); stable across processes and machines.

    ``unused`` names dotted keys or sections that this config's run never reads (e.g. the transformer's sizes in
    an MLP run): they are left out of the hash, so changing them maps to the same run.
    """
    tree = json.loads(canonical_json(config))
    for key in unused:
        *parents, leaf = key.split(".")
        node = tree
        for part in parents:
            node = node.get(part, {})
        node.pop(leaf, None)
    payload = json.dumps(
        {"experiment": experiment, "config": tree, "version": version},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def parse_override(token: str) -> tuple[str, str]:
    """Split ``'key.path=value'`` into its key and raw value text."""
    key, sep, value = token.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {token!r} is not of the form key.path=value (e.g. train.lr=0.01)")
    return key, value.strip()


def parse_overrides(tokens: Iterable[str]) -> dict[str, str]:
    """``'key.path=value'`` tokens as key -> raw value text. A key given twice is an error: a silent "last one
    wins" would also hide a bad earlier value."""
    out: dict[str, str] = {}
    for key, raw in map(parse_override, tokens):
        if key in out:
            raise ConfigError(f"{key} is given twice ({key}={out[key]} and {key}={raw}); give each key once.", key=key)
        out[key] = raw
    return out


def apply_overrides(config: Any, overrides: Mapping[str, Any] | Iterable[str]) -> Any:
    """Return a copy of ``config`` with dotted overrides applied and type-checked.

    ``overrides`` is a mapping ``{'train.lr': 0.01}`` (values may be Python values or strings to parse) or an
    iterable of ``'key=value'`` tokens as typed on the command line. Raises :class:`ConfigError` naming the
    bad key and the valid keys, or the expected type. Every value is set first and the config is then built
    once, so each dataclass's own validation (``__post_init__``) sees all overrides together, whatever their
    order: a check across two fields never depends on which one the user typed first.
    """
    if not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    if not overrides:
        return config
    tree = _as_tree(config)
    for key, raw in overrides.items():
        _set(config, tree, key.split("."), raw, key)
    return _build(type(config), tree)


def _as_tree(config: Any) -> dict:
    """Field name -> value, nested dataclasses as nested dicts (values keep their Python types)."""
    return {
        f.name: _as_tree(v) if dataclasses.is_dataclass(v := getattr(config, f.name)) else v
        for f in dataclasses.fields(config)
    }


def _build(cls: type, tree: dict) -> Any:
    hints = get_type_hints(cls)
    kwargs = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            try:
                kwargs[k] = _build(hints[k], v)
            except ConfigError as e:
                raise e.within(k) from None
        else:
            kwargs[k] = v
    return cls(**kwargs)


def _set(node: Any, tree: dict, path: list[str], raw: Any, full_key: str, prefix: str = "") -> None:
    names = [f.name for f in dataclasses.fields(node)]
    head = path[0]
    if head not in names:
        valid = ", ".join(field_keys(node, prefix))
        raise ConfigError(f"unknown config key {full_key!r}; valid keys: {valid}")
    current = getattr(node, head)
    if dataclasses.is_dataclass(current):
        if len(path) == 1:
            sub = ", ".join(f"{full_key}.{k}" for k in field_keys(current))
            raise ConfigError(f"config key {full_key!r} is a group; set one of its keys: {sub}")
        _set(current, tree[head], path[1:], raw, full_key, f"{prefix}{head}.")
    else:
        if len(path) > 1:
            raise ConfigError(f"unknown config key {full_key!r}: {'.'.join(path[:1])} is not a group")
        tree[head] = coerce(raw, get_type_hints(type(node))[head], full_key)


def coerce(raw: Any, annotation: Any, key: str) -> Any:
    """Convert ``raw`` (a Python value or the text typed by a user) to ``annotation``, or raise ConfigError."""
    value = _literal(raw) if isinstance(raw, str) else raw
    origin = get_origin(annotation)
    if origin is Literal:
        choices = get_args(annotation)
        if value not in choices:
            raise ConfigError(f"{key} must be one of {', '.join(map(repr, choices))}; got {raw!r}")
        return value
    if origin in (types.UnionType, typing.Union):
        options = get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce(value, option, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: cannot parse {raw!r}")
    if origin is tuple:
        if isinstance(value, str):
            value = tuple(_literal(v.strip()) for v in value.split(",") if v.strip())
        if not isinstance(value, list | tuple):
            value = (value,)
        args = get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], key) for v in value)
        if len(args) != len(value):
            raise ConfigError(f"{key} needs {len(args)} values separated by commas; got {raw!r}")
        return tuple(coerce(v, a, key) for v, a in zip(value, args, strict=True))
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off"):
            return value.lower() in ("true", "yes", "on")
        raise ConfigError(f"{key} must be true or false; got {raw!r}")
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"{key} must be an integer; got {raw!r}")
        if int(value) != value:
            raise ConfigError(f"{key} must be an integer; got {raw!r}")
        return int(value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key} must be a number; got {raw!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number; got {raw!r}")
        return float(value)
    if annotation is str:
        return str(value)
    raise ConfigError(f"{key} cannot be set from the command line (type {annotation})")  # pragma: no cover


def _literal(text: str) -> Any:
    """Parse a user-typed value: numbers, booleans, None, tuples; anything else stays a string."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
        return text  # not a Python literal (or one nested beyond reason): the field's type check decides


def from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Rebuild a config of type ``cls`` from :func:`to_dict` output (lists become tuples where annotated)."""
    hints = get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value, annotation = data[f.name], hints[f.name]
        if dataclasses.is_dataclass(annotation):
            try:
                kwargs[f.name] = from_dict(annotation, value)
            except ConfigError as e:
                raise e.within(f.name) from None
        else:
            kwargs[f.name] = coerce(value, annotation, f.name)
    return cls(**kwargs)
