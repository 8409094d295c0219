"""Adapter for wsocket's own server (:mod:`wsocket.server`)."""

from __future__ import annotations

from typing import Any, Callable, List, Tuple

from ..concurrency import write_all
from . import Adapter, response_101

__all__ = ["WsocketAdapter"]


class WsocketAdapter(Adapter):
    """wsocket's own server exposes ``environ["wsocket.take_over"]``."""

    name = "wsocket"

    def matches(self, environ: Any) -> bool:
        return "wsocket.take_over" in environ

    def take_over(
        self,
        environ: Any,
        start_response: Callable[..., Any],
        headers: List[Tuple[str, str]],
    ) -> Tuple[Any, bytes]:
        sock, extra = environ["wsocket.take_over"]()
        write_all(sock, response_101(headers))
        return sock, bytes(extra)


ADAPTER = WsocketAdapter()
