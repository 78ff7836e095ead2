"""A minimal ASGI app for tests/kit/test_serving.py: answers every request with its worker's pid
and how many objects its garbage collector has frozen."""

from __future__ import annotations

import gc
import os
from typing import Any


def app() -> Any:
    """uvicorn factory (`gateway.kit.serving.serve` runs factories)."""

    async def answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = f"{os.getpid()} {gc.get_freeze_count()}".encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return answer
