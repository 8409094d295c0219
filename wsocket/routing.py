"""URL routing: path patterns, converters, and the lookup that finds a rule.

A pattern is a path made of segments separated by ``/``. Each segment is one
of:

- fixed text: ``/about``, ``/api/v1``;
- a parameter: ``<name>`` (one segment), ``<int:id>``, ``<float:x>``, or
  ``<path:rest>`` (the rest of the path, slashes included; it ends the
  pattern);
- text and parameters mixed within a segment: ``/<name>.json``, ``/v<int:n>``;
- ``*`` as the last segment: a wildcard that matches every path under the
  prefix, e.g. ``/files/*`` matches ``/files/``, ``/files/a`` and
  ``/files/a/b`` (but not ``/files``);
- ``*`` right after text, in a pattern without parameters: a wildcard that
  matches every path starting with the text, e.g. ``/hello*`` matches
  ``/hello``, ``/helloworld`` and ``/hello/a/b``.

Strategy:

1. Patterns without parameters go in a dict keyed by the path, so that
   looking one up costs one dict access however many routes there are.
2. The other patterns go in a tree of segments. A lookup walks down the
   path's segments: at each node it follows the fixed-text child (a dict
   access), then the parameter children in the order they were added, then a
   ``path`` parameter that takes the rest. Nodes are shared between patterns
   whose segments are alike, so a lookup visits about as many nodes as the
   path has segments, not one per route.
3. Wildcards ending in ``/*`` hang on the node of their prefix. While
   walking, the tree notes every wildcard it passes. Text wildcards
   (``/hello*``) sit in a list tried with :meth:`str.startswith`. After the
   full matches, the wildcards of both kinds come out longest prefix first,
   counted in characters of the path they matched.

:meth:`Router.iter_matches` yields the candidates in that order: fixed
paths, then patterns with parameters, then wildcards. :meth:`Router.match`
takes the first one that accepts the request's method, or raises
:class:`NoMatch`, which says which methods the path allows and whether a
WebSocket route exists there.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import (
    Any,
    Callable,
    Dict,
    FrozenSet,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Pattern,
    Set,
    Tuple,
)

__all__ = [
    "Converter",
    "Rule",
    "Router",
    "NoMatch",
    "BuildError",
    "build_path",
    "DEFAULT_CONVERTERS",
]


class Converter(NamedTuple):
    """How a path parameter is matched and turned into a Python value."""

    regex: str
    to_python: Callable[[str], Any]


Converter.regex.__doc__ = (
    "What the parameter's text must match (whole), without capturing groups."
)
Converter.to_python.__doc__ = (
    "Turns the matched text into the value passed to the handler; raising "
    ":class:`ValueError` means no match."
)


#: The converters every :class:`Router` starts with. ``str`` is the default
#: (``<name>`` is ``<str:name>``): one non-empty segment. ``int`` and
#: ``float`` take ASCII digits with an optional minus sign (``float`` also an
#: optional fractional part). ``path`` takes the rest of the path.
DEFAULT_CONVERTERS: Dict[str, Converter] = {
    "str": Converter(r"[^/]+", str),
    "int": Converter(r"-?[0-9]+", int),
    "float": Converter(r"-?[0-9]+(?:\.[0-9]+)?", float),
    "path": Converter(r".+", str),
}

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PARAM = re.compile(rf"<(?:({_NAME}):)?({_NAME})>")
_PARAM_LOOSE = re.compile(r"<[^<>]*>")

# A segment matcher returns the converted values of its parameters, or None.
_Matcher = Callable[[str], Optional[Tuple[Any, ...]]]


class NoMatch(LookupError):
    """No rule of the router answers a request.

    Attributes:
        path: the path looked up.
        allowed: the methods that rules at this path do accept; empty when
            no rule matches the path at all (a 404 rather than a 405).
        websocket: whether a rule at this path answers WebSocket upgrades.
    """

    def __init__(self, path: str, allowed: FrozenSet[str], websocket: bool) -> None:
        super().__init__(path, allowed, websocket)
        self.path = path
        self.allowed = allowed
        self.websocket = websocket

    @property
    def status(self) -> int:
        """404 when nothing is at the path, 405 when other methods are."""
        return 405 if self.allowed else 404

    def __str__(self) -> str:
        if self.allowed:
            allowed = ", ".join(sorted(self.allowed))
            return f"{self.path}: method not allowed (allowed: {allowed})"
        return f"{self.path}: no route"


class BuildError(LookupError):
    """A URL cannot be built: unknown route name, or missing or bad values."""


def build_path(
    pattern: str, params: Dict[str, Any], converters: Dict[str, Converter]
) -> str:
    """Fill the parameters of ``pattern`` with ``params``.

    Values are turned into text with :class:`str` and percent-encoded (a
    ``path`` parameter keeps its slashes); each must match its converter.
    A trailing wildcard is left out (``/files/*`` builds ``/files/``).

    Raises:
        BuildError: a parameter is missing or its value does not match.
    """
    parts: List[str] = []
    end = 0
    for found in _PARAM.finditer(pattern):
        kind, name = found.group(1) or "str", found.group(2)
        if name not in params:
            raise BuildError(f"{pattern!r} needs a value for {name!r}")
        text = str(params[name])
        conv = converters.get(kind)
        if conv is not None and re.fullmatch(conv.regex, text) is None:
            raise BuildError(
                f"{pattern!r}: {name}={params[name]!r} does not match <{kind}:{name}>"
            )
        parts.append(pattern[end : found.start()])
        parts.append(urllib.parse.quote(text, safe="/" if kind == "path" else ""))
        end = found.end()
    parts.append(pattern[end:])
    path = "".join(parts)
    return path[:-1] if path.endswith("*") else path


class Rule:
    """One registered pattern and what it leads to.

    Attributes:
        pattern: the pattern as registered, e.g. ``"/users/<int:id>"``.
        target: the object the router returns for it (the application
            stores its route there).
        names: the parameter names, in the order they appear.
        wildcard: ``True`` for a pattern ending in ``*``.
        methods: the HTTP methods the rule answers, ``None`` for any.
        websocket: whether the rule answers WebSocket upgrades.
    """

    __slots__ = (
        "pattern",
        "target",
        "names",
        "wildcard",
        "methods",
        "websocket",
        "_home",
    )

    def __init__(
        self,
        pattern: str,
        target: Any,
        names: Tuple[str, ...],
        wildcard: bool,
        methods: Optional[FrozenSet[str]] = None,
        websocket: bool = False,
    ) -> None:
        self.pattern = pattern
        self.target = target
        self.names = names
        self.wildcard = wildcard
        self.methods = methods
        self.websocket = websocket
        # The list of the router that holds the rule, for Router.remove().
        self._home: List[Any] = []

    @property
    def static(self) -> bool:
        """True when the pattern has no parameter and no wildcard."""
        return not self.names and not self.wildcard

    def accepts(self, method: str) -> bool:
        """Tell whether the rule answers HTTP ``method``."""
        return self.methods is None or method in self.methods

    def __repr__(self) -> str:
        return f"<Rule {self.pattern!r} -> {self.target!r}>"


class _Node:
    """One level of the segment tree."""

    __slots__ = ("fixed", "params", "rest", "rules", "wild")

    def __init__(self) -> None:
        self.fixed: Dict[str, _Node] = {}
        # (key, matcher, child): key identifies the matcher so that patterns
        # with the same kind of segment share the child.
        self.params: List[Tuple[Tuple[Any, ...], _Matcher, _Node]] = []
        # Rules whose last segment is a ``path`` parameter, with its converter.
        self.rest: List[Tuple[Rule, Converter, Pattern[str]]] = []
        self.rules: List[Rule] = []
        self.wild: List[Rule] = []


def _segment_matcher(converter: Converter) -> _Matcher:
    regex = re.compile(converter.regex)
    fullmatch = regex.fullmatch
    to_python = converter.to_python

    def match(segment: str) -> Optional[Tuple[Any, ...]]:
        if fullmatch(segment) is None:
            return None
        try:
            return (to_python(segment),)
        except ValueError:
            return None

    return match


def _mixed_matcher(regex: Pattern[str], converters: List[Converter]) -> _Matcher:
    fullmatch = regex.fullmatch

    def match(segment: str) -> Optional[Tuple[Any, ...]]:
        found = fullmatch(segment)
        if found is None:
            return None
        try:
            return tuple(
                conv.to_python(text) for conv, text in zip(converters, found.groups())
            )
        except ValueError:
            return None

    return match


class Router:
    """Map URL paths to targets through patterns with parameters.

    Example::

        router = Router()
        router.add("/users/<int:id>", "user")
        rule, params = router.match("/users/42")   # params == {"id": 42}
    """

    def __init__(self) -> None:
        self.converters: Dict[str, Converter] = dict(DEFAULT_CONVERTERS)
        self.rules: List[Rule] = []
        self._static: Dict[str, List[Rule]] = {}
        self._root = _Node()
        # Text wildcards ("/hello*"): (prefix, rule), in the order added.
        self._prefixes: List[Tuple[str, Rule]] = []

    def __len__(self) -> int:
        return len(self.rules)

    def add_converter(
        self, name: str, regex: str, to_python: Callable[[str], Any] = str
    ) -> None:
        """Register a converter for ``<name:param>`` in patterns added later.

        Args:
            name: the converter's name, a Python identifier.
            regex: what a parameter's text must match, within one segment,
                without capturing groups (use ``(?:...)``).
            to_python: turns the text into the value given to handlers;
                raising :class:`ValueError` makes the pattern not match.

        Raises:
            ValueError: for a bad name or a regex with capturing groups.
        """
        if re.fullmatch(_NAME, name) is None:
            raise ValueError(f"converter name {name!r} must be a Python identifier")
        if re.compile(regex).groups:
            raise ValueError(
                f"the regex of converter {name!r} has capturing groups; "
                "write (?:...) instead of (...)"
            )
        self.converters[name] = Converter(regex, to_python)

    def _converter(self, name: Optional[str], pattern: str) -> Converter:
        conv = self.converters.get(name or "str")
        if conv is None:
            known = ", ".join(sorted(self.converters))
            raise ValueError(
                f"unknown converter {name!r} in route {pattern!r}: use one of "
                f"{known}, or register it first with "
                f"router.add_converter({name!r}, regex, to_python)"
            )
        return conv

    def add(
        self,
        pattern: str,
        target: Any,
        *,
        methods: Optional[FrozenSet[str]] = None,
        websocket: bool = False,
    ) -> Rule:
        """Add a pattern; lookups then return ``target`` for matching paths.

        A pattern added twice is kept twice: both are candidates, in the
        order they were added.

        Args:
            pattern: the path pattern (see the module documentation).
            target: any object, returned in the :class:`Rule` of a match.
            methods: the HTTP methods the rule answers; ``None`` for any.
            websocket: whether the rule answers WebSocket upgrades.

        Returns:
            The new rule.

        Raises:
            ValueError: for a pattern that does not start with ``/``, an
                unknown converter, a malformed or repeated parameter, a
                ``path`` parameter or ``*`` that is not last.
        """
        if not isinstance(pattern, str) or not pattern.startswith("/"):
            raise ValueError(f"route {pattern!r} must be a string starting with '/'")
        segments = pattern[1:].split("/")
        wildcard = segments[-1] == "*"
        if wildcard:
            segments.pop()
        elif segments[-1].endswith("*") and "<" not in pattern:
            # "/hello*": every path that starts with "/hello".
            prefix = pattern[:-1]
            if "*" not in prefix:
                rule = Rule(pattern, target, (), True, methods, websocket)
                rule._home = self._prefixes
                self._prefixes.append((prefix, rule))
                self.rules.append(rule)
                return rule
        for segment in segments:
            if "*" in segment:
                raise ValueError(
                    f"route {pattern!r}: '*' is only allowed at the end, as "
                    "in '/files/*' or '/hello*' (the latter without parameters)"
                )
            leftover = _PARAM.sub("", segment)
            if "<" in leftover or ">" in leftover:
                bad = _PARAM_LOOSE.search(segment)
                shown = bad.group(0) if bad else segment
                raise ValueError(
                    f"route {pattern!r}: malformed parameter {shown!r}; write "
                    "<name> or <converter:name> with Python identifiers"
                )
        if not wildcard and "<" not in pattern:
            rule = Rule(pattern, target, (), False, methods, websocket)
            rule._home = self._static.setdefault(pattern, [])
            rule._home.append(rule)
            self.rules.append(rule)
            return rule

        names: List[str] = []
        node = self._root
        for index, segment in enumerate(segments):
            params = list(_PARAM.finditer(segment))
            if not params:
                node = node.fixed.setdefault(segment, _Node())
                continue
            for found in params:
                name = found.group(2)
                if name in names:
                    raise ValueError(f"route {pattern!r}: parameter {name!r} repeated")
                names.append(name)
            whole = len(params) == 1 and params[0].group(0) == segment
            if any(found.group(1) == "path" for found in params):
                if not whole:
                    raise ValueError(
                        f"route {pattern!r}: a <path:...> parameter takes a "
                        "whole segment"
                    )
                if index != len(segments) - 1 or wildcard:
                    raise ValueError(
                        f"route {pattern!r}: a <path:...> parameter takes the "
                        "rest of the path, so it must be last"
                    )
                conv = self._converter("path", pattern)
                rule = Rule(pattern, target, tuple(names), False, methods, websocket)
                entry = (rule, conv, re.compile(conv.regex))
                node.rest.append(entry)
                rule._home = node.rest
                self.rules.append(rule)
                return rule
            converters = [self._converter(f.group(1), pattern) for f in params]
            # Segments alike (same text, same converters) share one child.
            key: Tuple[Any, ...] = (
                _PARAM.sub(lambda f: "<" + (f.group(1) or "str") + ">", segment),
                *map(id, converters),
            )
            if whole:
                matcher = _segment_matcher(converters[0])
            else:
                parts: List[str] = []
                end = 0
                for found, conv in zip(params, converters):
                    parts.append(re.escape(segment[end : found.start()]))
                    parts.append(f"((?:{conv.regex}))")
                    end = found.end()
                parts.append(re.escape(segment[end:]))
                matcher = _mixed_matcher(re.compile("".join(parts)), converters)
            for existing_key, _, child in node.params:
                if existing_key == key:
                    node = child
                    break
            else:
                child = _Node()
                node.params.append((key, matcher, child))
                node = child
        rule = Rule(pattern, target, tuple(names), wildcard, methods, websocket)
        rule._home = node.wild if wildcard else node.rules
        rule._home.append(rule)
        self.rules.append(rule)
        return rule

    def remove(self, rule: Rule) -> None:
        """Remove a rule that :meth:`add` returned.

        Raises:
            ValueError: the rule is not in this router.
        """
        self.rules.remove(rule)
        home = rule._home
        for index, item in enumerate(home):
            if item is rule or (
                isinstance(item, tuple) and any(part is rule for part in item)
            ):
                del home[index]
                break

    def match(
        self, path: str, method: str = "GET", *, websocket: bool = False
    ) -> Tuple[Rule, Dict[str, Any]]:
        """Find the rule that answers a request, and its parameters.

        The first candidate of :meth:`iter_matches` that accepts ``method``
        wins. A ``HEAD`` request falls back on a rule for ``GET``. A
        WebSocket upgrade (``websocket=True``) takes the first rule that
        answers upgrades, else the first that answers ``GET`` (which then
        serves it as plain HTTP).

        Args:
            path: the decoded request path, starting with ``/``.
            method: the request's HTTP method.
            websocket: whether the request is a WebSocket upgrade.

        Raises:
            NoMatch: no rule answers; it tells a 404 from a 405.
        """
        static = self._static.get(path)
        if static is not None and not websocket:
            for rule in static:  # the common case, without the generator
                if rule.methods is None or method in rule.methods:
                    return rule, {}
        fallback: Optional[Tuple[Rule, Dict[str, Any]]] = None
        allowed: Set[str] = set()
        has_websocket = False
        for rule, params in self.iter_matches(path):
            if websocket:
                if rule.websocket and rule.accepts("GET"):
                    return rule, params
                if fallback is None and rule.accepts("GET"):
                    fallback = rule, params
            elif rule.accepts(method):
                return rule, params
            elif method == "HEAD" and fallback is None and rule.accepts("GET"):
                fallback = rule, params
            has_websocket = has_websocket or rule.websocket
            allowed.update(rule.methods or ())
        if fallback is not None:
            return fallback
        raise NoMatch(path, frozenset(allowed), has_websocket)

    def iter_matches(self, path: str) -> Iterator[Tuple[Rule, Dict[str, Any]]]:
        """Yield every rule matching ``path`` with its parameters, best first.

        The order: fixed paths; then patterns with parameters (at each
        segment, fixed text before parameters, parameters in the order they
        were added, a ``path`` parameter last); then wildcards, longest
        prefix first (in characters). Rules of equal rank come in the order
        they were added.

        Args:
            path: the decoded request path, starting with ``/``.
        """
        static = self._static.get(path)
        if static is not None:
            for rule in static:
                yield rule, {}
        if not path.startswith("/"):
            return
        segments = path[1:].split("/")
        wild: List[Tuple[int, Rule, Tuple[Any, ...]]] = []
        for rule, values in _walk(self._root, segments, 0, (), wild):
            yield rule, dict(zip(rule.names, values))
        if self._prefixes:
            # Tree wildcards matched after ``index`` segments: their prefix
            # is that many segments plus the slashes around them.
            ranked = [
                (len(path) - len("/".join(segments[index:])), rule, values)
                for index, rule, values in wild
            ]
            ranked.extend(
                (len(prefix), rule, ())
                for prefix, rule in self._prefixes
                if path.startswith(prefix)
            )
            wild = ranked
        # Longest first; sorted() is stable, so registration order is kept.
        wild.sort(key=lambda item: -item[0])
        for _, rule, values in wild:
            yield rule, dict(zip(rule.names, values))


def _walk(
    node: _Node,
    segments: List[str],
    index: int,
    values: Tuple[Any, ...],
    wild: List[Tuple[int, Rule, Tuple[Any, ...]]],
) -> Iterator[Tuple[Rule, Tuple[Any, ...]]]:
    """Yield the full matches under ``node``; collect wildcards in ``wild``."""
    if index == len(segments):
        for rule in node.rules:
            yield rule, values
        return
    # A wildcard needs at least one more segment, possibly empty ("/files/").
    for rule in node.wild:
        wild.append((index, rule, values))
    segment = segments[index]
    child = node.fixed.get(segment)
    if child is not None:
        yield from _walk(child, segments, index + 1, values, wild)
    for _, matcher, child in node.params:
        got = matcher(segment)
        if got is not None:
            yield from _walk(child, segments, index + 1, values + got, wild)
    if node.rest:
        rest = "/".join(segments[index:])
        for rule, conv, regex in node.rest:
            if regex.fullmatch(rest) is None:
                continue
            try:
                value = conv.to_python(rest)
            except ValueError:
                continue
            yield rule, values + (value,)
