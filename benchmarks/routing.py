"""Route lookup cost with 10 and with 1000 routes: exact, parameter, wildcard.

    python benchmarks/routing.py

For each kind of route, the router gets N routes of that kind and looks up
the one registered last; the whole app (WSocketApp.__call__ with a minimal
environ and a no-op start_response) is timed for the same paths. The last
column is the ratio of the 1000-route time to the 10-route time: 1.0 means
the cost does not grow with the number of routes.
"""

from __future__ import annotations

import os
import sys
import timeit
from typing import Any, Callable, Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wsocket.app import WSocketApp  # noqa: E402
from wsocket.routing import Router  # noqa: E402

SIZES = (10, 1000)

# kind -> (pattern for route i, path of route i)
KINDS: Dict[str, Tuple[Callable[[int], str], Callable[[int], str]]] = {
    "exact": (lambda i: f"/section{i}/page", lambda i: f"/section{i}/page"),
    "param": (
        lambda i: f"/api/v{i}/items/<int:item_id>",
        lambda i: f"/api/v{i}/items/42",
    ),
    "param-first": (
        lambda i: f"/<lang>/doc{i}",
        lambda i: f"/en/doc{i}",
    ),
    "wildcard": (lambda i: f"/files{i}/*", lambda i: f"/files{i}/a/b/c.txt"),
}


def handler(environ: Dict[str, Any], start_response: Any, **params: Any) -> List[bytes]:
    return [b""]


def no_start(status: str, headers: Any, exc_info: Any = None) -> None:
    return None


def best_of(func: Callable[[], Any], number: int = 20000) -> float:
    """Seconds per call, best of five runs."""
    return min(timeit.repeat(func, number=number, repeat=5)) / number


def measure(kind: str, size: int) -> Tuple[float, float]:
    pattern, path_of = KINDS[kind]
    router = Router()
    app = WSocketApp()
    for i in range(size):
        router.add(pattern(i), i)
        app.add_route(pattern(i), handler, websocket=False)
    path = path_of(size - 1)
    found = router.match(path)
    assert found[0].target == size - 1, (kind, found)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path}
    assert app(dict(environ), no_start) == [b""]
    lookup = best_of(lambda: router.match(path))
    call = best_of(lambda: app(dict(environ), no_start))
    return lookup, call


def main() -> None:
    print(
        f"{'kind':<12} {'what':<8}" + "".join(f"{n:>10} rt" for n in SIZES) + "   ratio"
    )
    for kind in KINDS:
        results = [measure(kind, size) for size in SIZES]
        for column, what in enumerate(("match", "app")):
            times = [result[column] for result in results]
            cells = "".join(f"{t * 1e6:>10.2f} µs" for t in times)
            print(f"{kind:<12} {what:<8}{cells}   {times[-1] / times[0]:5.2f}")


if __name__ == "__main__":
    main()
