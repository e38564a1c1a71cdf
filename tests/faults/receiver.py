"""A webhook receiver for the fault tests: answers every POST at once, or ``delay``
seconds late while ``slow``; counts every POST by its ``webhook-id`` (the notification
id), and apart those it answered late (``late``: a notification every POST of which was
answered late was given up on for the receiver's fault, not notify's). Plain asyncio
streams, so it costs the machine little while it is being measured."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from shared.devservers import free_port


class WebhookReceiver:
    """See the module docstring; ``slow`` at first when asked."""

    def __init__(self, delay: float, *, slow: bool = False) -> None:
        self.port = free_port()
        self.delay = delay
        self.slow = slow
        self.posts: Counter[str] = Counter()
        self.late: Counter[str] = Counter()  # POSTs answered ``delay`` seconds late
        self._server: asyncio.Server | None = None

    def only_late(self, notification_id: str) -> bool:
        """Whether every POST of ``notification_id`` (one at least) was answered late."""
        posts = self.posts[notification_id]
        return posts > 0 and self.late[notification_id] == posts

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            headers: dict[str, Any] = {}
            for line in head.decode("latin-1").split("\r\n")[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            await reader.readexactly(int(headers.get("content-length", "0")))
            nid = headers.get("webhook-id", "?")
            self.posts[nid] += 1
            if self.slow:
                self.late[nid] += 1
                await asyncio.sleep(self.delay)
            writer.write(
                b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()
