"""wsocket.routing: patterns, converters, priorities, and the cost of a lookup."""

from __future__ import annotations

import pytest

import wsocket.routing as routing
from wsocket.routing import DEFAULT_CONVERTERS, NoMatch, Router, _walk


def router_with(*patterns: str) -> Router:
    router = Router()
    for pattern in patterns:
        router.add(pattern, pattern)
    return router


def best(router: Router, path: str):
    try:
        rule, params = router.match(path)
    except NoMatch:
        return None
    return rule.target, params


def all_matches(router: Router, path: str):
    return [(rule.target, params) for rule, params in router.iter_matches(path)]


# -- fixed paths ------------------------------------------------------------------


def test_exact_paths():
    router = router_with("/", "/about", "/about/", "/a/b/c")
    assert best(router, "/") == ("/", {})
    assert best(router, "/about") == ("/about", {})
    assert best(router, "/about/") == ("/about/", {})
    assert best(router, "/a/b/c") == ("/a/b/c", {})
    assert best(router, "/a/b") is None
    assert best(router, "/About") is None  # paths are case-sensitive


def test_no_match_raises_and_nothing_to_iterate():
    router = router_with("/a", "/b/<x>")
    with pytest.raises(NoMatch) as caught:
        router.match("/c")
    assert caught.value.status == 404
    assert caught.value.allowed == frozenset()
    assert list(router.iter_matches("/c")) == []
    assert list(router.iter_matches("*")) == []  # OPTIONS * is no path


def test_params_dict_is_fresh_for_every_match():
    router = router_with("/a")
    first = router.match("/a")
    first[1]["mutated"] = True
    second = router.match("/a")
    assert second[1] == {}


def test_exact_paths_do_not_build_the_segment_tree():
    router = Router()
    for number in range(1000):
        router.add(f"/static/page{number}", number)
    # Fixed paths live in a dict: a lookup is one access whatever the count.
    assert router._root.fixed == {}
    assert len(router._static) == 1000
    assert best(router, "/static/page999") == (999, {})


# -- parameters and converters ----------------------------------------------------


def test_default_parameter_is_one_non_empty_segment():
    router = router_with("/users/<name>")
    assert best(router, "/users/ada") == ("/users/<name>", {"name": "ada"})
    assert best(router, "/users/a%20b") == ("/users/<name>", {"name": "a%20b"})
    assert best(router, "/users/") is None
    assert best(router, "/users/a/b") is None
    assert best(router, "/users") is None


def test_str_converter_is_the_default():
    router = router_with("/s/<str:x>")
    assert best(router, "/s/hello") == ("/s/<str:x>", {"x": "hello"})


@pytest.mark.parametrize(
    "segment,value",
    [
        ("42", 42),
        ("0", 0),
        ("-7", -7),
        ("007", 7),
        ("12345678901234567890", 12345678901234567890),
    ],
)
def test_int_converter_matches(segment, value):
    router = router_with("/items/<int:id>")
    assert best(router, f"/items/{segment}") == ("/items/<int:id>", {"id": value})
    assert type(best(router, f"/items/{segment}")[1]["id"]) is int


@pytest.mark.parametrize(
    "segment", ["x", "1.5", "", "1_000", " 1", "+1", "١٢", "0x10", "1e3", "--1"]
)
def test_int_converter_refuses(segment):
    router = router_with("/items/<int:id>")
    assert best(router, f"/items/{segment}") is None


@pytest.mark.parametrize(
    "segment,value", [("1.5", 1.5), ("2", 2.0), ("-0.25", -0.25), ("10.0", 10.0)]
)
def test_float_converter_matches(segment, value):
    router = router_with("/x/<float:v>")
    found = best(router, f"/x/{segment}")
    assert found == ("/x/<float:v>", {"v": value})
    assert type(found[1]["v"]) is float


@pytest.mark.parametrize("segment", ["nan", "inf", "1e5", ".5", "1.", "x", "1,5"])
def test_float_converter_refuses(segment):
    router = router_with("/x/<float:v>")
    assert best(router, f"/x/{segment}") is None


def test_path_converter_takes_the_rest_with_slashes():
    router = router_with("/files/<path:rest>")
    assert best(router, "/files/a") == ("/files/<path:rest>", {"rest": "a"})
    assert best(router, "/files/a/b/c.txt") == (
        "/files/<path:rest>",
        {"rest": "a/b/c.txt"},
    )
    assert best(router, "/files/a/") == ("/files/<path:rest>", {"rest": "a/"})
    assert best(router, "/files/") is None  # nothing to take
    assert best(router, "/files") is None


def test_several_parameters():
    router = router_with("/u/<int:uid>/posts/<slug>/<path:rest>")
    assert best(router, "/u/3/posts/hello/a/b") == (
        "/u/<int:uid>/posts/<slug>/<path:rest>",
        {"uid": 3, "slug": "hello", "rest": "a/b"},
    )


def test_text_and_parameters_mixed_in_a_segment():
    router = router_with("/reports/<int:year>.csv", "/v<int:major>.<int:minor>/x")
    assert best(router, "/reports/2024.csv") == (
        "/reports/<int:year>.csv",
        {"year": 2024},
    )
    assert best(router, "/reports/2024.json") is None
    assert best(router, "/reports/x.csv") is None
    assert best(router, "/v1.2/x") == (
        "/v<int:major>.<int:minor>/x",
        {"major": 1, "minor": 2},
    )
    assert best(router, "/v1/x") is None


def test_text_in_a_mixed_segment_is_literal_not_a_regex():
    router = router_with("/a/<name>.(x)+")
    assert best(router, "/a/b.(x)+") == ("/a/<name>.(x)+", {"name": "b"})
    assert best(router, "/a/b.xx") is None


def test_custom_converter():
    router = Router()
    router.add_converter("hex", r"[0-9a-f]+", lambda text: int(text, 16))
    router.add("/color/<hex:value>", "color")
    assert best(router, "/color/ff") == ("color", {"value": 255})
    assert best(router, "/color/zz") is None


def test_a_converter_raising_value_error_means_no_match():
    def even(text: str) -> int:
        number = int(text)
        if number % 2:
            raise ValueError("odd")
        return number

    router = Router()
    router.add_converter("even", r"[0-9]+", even)
    router.add("/n/<even:n>", "even")
    router.add("/n/<int:n>", "any")
    router.add_converter("evenpair", r"[0-9]+", even)
    router.add("/m/<evenpair:a>-<evenpair:b>", "pair")
    assert best(router, "/n/4") == ("even", {"n": 4})
    assert best(router, "/n/3") == ("any", {"n": 3})
    assert best(router, "/m/2-4") == ("pair", {"a": 2, "b": 4})
    assert best(router, "/m/2-3") is None


def test_custom_path_like_converter_as_last_segment():
    router = Router()

    def no_dots(text: str) -> str:
        if ".." in text:
            raise ValueError(text)
        return text

    router.converters["path"] = router.converters["path"]._replace(to_python=no_dots)
    router.add("/f/<path:p>", "f")
    assert best(router, "/f/a/b") == ("f", {"p": "a/b"})
    assert best(router, "/f/a/../b") is None


def test_unknown_converter_says_what_to_do():
    router = Router()
    with pytest.raises(ValueError) as info:
        router.add("/x/<uuid:id>", "x")
    message = str(info.value)
    assert "unknown converter 'uuid'" in message
    assert "'/x/<uuid:id>'" in message
    for name in DEFAULT_CONVERTERS:
        assert name in message
    assert "add_converter('uuid'" in message


@pytest.mark.parametrize(
    "name,regex,error",
    [
        ("1bad", "x", "identifier"),
        ("bad-name", "x", "identifier"),
        ("grouped", "(a|b)", "capturing groups"),
    ],
)
def test_add_converter_refuses(name, regex, error):
    with pytest.raises(ValueError, match=error):
        Router().add_converter(name, regex)


@pytest.mark.parametrize(
    "pattern,error",
    [
        ("users", "must be a string starting with '/'"),
        ("", "must be a string starting with '/'"),
        ("/a/*/b", "'\\*' is only allowed at the end"),
        ("/a<x>*", "'\\*' is only allowed at the end"),
        ("/files/<path:p>/edit", "must be last"),
        ("/files/<path:p>/*", "must be last"),
        ("/x<path:p>", "whole segment"),
        ("/<a>/<int:a>", "parameter 'a' repeated"),
        ("/<1bad>", "malformed parameter"),
        ("/<a b>", "malformed parameter"),
        ("/a<b", "malformed parameter"),
        ("/a>b", "malformed parameter"),
        ("/<int:>", "malformed parameter"),
    ],
)
def test_malformed_patterns(pattern, error):
    with pytest.raises(ValueError, match=error):
        Router().add(pattern, "x")


def test_pattern_that_is_not_a_string():
    with pytest.raises(ValueError):
        Router().add(b"/x", "x")  # type: ignore[arg-type]


# -- wildcards --------------------------------------------------------------------


def test_wildcard_matches_everything_under_its_prefix():
    router = router_with("/files/*")
    for path in ("/files/", "/files/a", "/files/a/b", "/files/a/b/"):
        assert best(router, path) == ("/files/*", {}), path
    for path in ("/files", "/filesx", "/file/a", "/"):
        assert best(router, path) is None, path


def test_root_wildcard_matches_every_path():
    router = router_with("/*")
    for path in ("/", "/a", "/a/b/c"):
        assert best(router, path) == ("/*", {})


def test_longest_wildcard_prefix_first():
    router = router_with("/*", "/a/*", "/a/b/c/*", "/a/b/*")
    assert [t for t, _ in all_matches(router, "/a/b/c/d")] == [
        "/a/b/c/*",
        "/a/b/*",
        "/a/*",
        "/*",
    ]
    assert [t for t, _ in all_matches(router, "/a/b/x")] == ["/a/b/*", "/a/*", "/*"]
    assert [t for t, _ in all_matches(router, "/a/b")] == ["/a/*", "/*"]


def test_wildcard_after_a_parameter():
    router = router_with("/users/<name>/files/*")
    assert best(router, "/users/ada/files/x/y") == (
        "/users/<name>/files/*",
        {"name": "ada"},
    )
    assert best(router, "/users/ada/files") is None


# -- priorities -------------------------------------------------------------------


def test_exact_then_parameters_then_wildcards():
    router = router_with("/users/*", "/users/<name>", "/users/new", "/*")
    assert [t for t, _ in all_matches(router, "/users/new")] == [
        "/users/new",
        "/users/<name>",
        "/users/*",
        "/*",
    ]
    assert [t for t, _ in all_matches(router, "/users/ada")] == [
        "/users/<name>",
        "/users/*",
        "/*",
    ]


def test_fixed_segment_before_parameter_at_each_level():
    router = router_with("/<kind>/<name>", "/users/<name>", "/<kind>/new")
    assert [t for t, _ in all_matches(router, "/users/new")] == [
        "/users/<name>",
        "/<kind>/new",
        "/<kind>/<name>",
    ]


def test_parameters_in_registration_order_and_path_last():
    router = router_with("/f/<path:rest>", "/f/<name>", "/f/<int:id>")
    assert [t for t, _ in all_matches(router, "/f/12")] == [
        "/f/<name>",
        "/f/<int:id>",
        "/f/<path:rest>",
    ]


def test_same_pattern_twice_is_kept_twice_in_order():
    router = Router()
    router.add("/a", "first")
    router.add("/a", "second")
    router.add("/b/<x>", "third")
    router.add("/b/<y>", "fourth")
    assert [t for t, _ in all_matches(router, "/a")] == ["first", "second"]
    assert all_matches(router, "/b/1") == [
        ("third", {"x": "1"}),
        ("fourth", {"y": "1"}),
    ]
    assert len(router) == 4


def test_alike_segments_share_nodes():
    # 1000 patterns with a parameter first: one parameter child, so a lookup
    # tries one matcher and then one dict access, not 1000 patterns.
    router = Router()
    for number in range(1000):
        router.add(f"/<section>/page{number}", number)
    assert len(router._root.params) == 1
    _, _, child = router._root.params[0]
    assert len(child.fixed) == 1000
    assert best(router, "/docs/page999") == (999, {"section": "docs"})

    # Converters are part of what makes segments alike.
    router.add("/<int:n>/x", "int")
    assert len(router._root.params) == 2


def test_walk_visits_a_bounded_number_of_nodes(monkeypatch):
    # 1000 parameter routes under distinct prefixes: a lookup visits the
    # nodes along one path only.
    router = Router()
    for number in range(1000):
        router.add(f"/api/v{number}/items/<int:id>", number)
    visited = []

    def counting(node, *args):
        visited.append(node)
        return _walk(node, *args)

    monkeypatch.setattr(routing, "_walk", counting)
    assert best(router, "/api/v999/items/5") == (999, {"id": 5})
    # The root, "api", "v999", "items" and the parameter's node.
    assert len(visited) == 5, len(visited)


def test_remove():
    router = Router()
    keep = router.add("/a", "keep")
    static = router.add("/a", "static")
    dynamic = router.add("/b/<x>", "dynamic")
    rest = router.add("/c/<path:p>", "rest")
    wild = router.add("/d/*", "wild")
    for rule in (static, dynamic, rest, wild):
        router.remove(rule)
    assert router.rules == [keep]
    assert all_matches(router, "/a") == [("keep", {})]
    for path in ("/b/1", "/c/1", "/d/1"):
        assert all_matches(router, path) == []
    with pytest.raises(ValueError):
        router.remove(static)


def test_rule_attributes_and_repr():
    router = Router()
    rule = router.add("/u/<int:id>/<name>", "t")
    assert rule.names == ("id", "name")
    assert not rule.static and not rule.wildcard
    assert router.add("/x", "t").static
    assert router.add("/x/*", "t").wildcard
    assert repr(rule) == "<Rule '/u/<int:id>/<name>' -> 't'>"


def test_non_ascii_patterns_match_decoded_paths():
    router = router_with("/café/<name>")
    assert best(router, "/café/thé") == ("/café/<name>", {"name": "thé"})
