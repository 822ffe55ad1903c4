"""A TCP proxy in front of a Redis server that cuts every connection at a chosen command.

A broker restart, seen from its clients, is every connection dropped at once, new
connections refused for a few seconds, and the data kept (AOF). The proxy does the
same at a deterministic point of a job's life: it reads the commands clients send
(RESP arrays), and when an armed ``Cut`` matches one, it drops every connection,
either before the command reaches Redis or after Redis ran it but before its reply
gets back, then refuses connections for ``down_for`` seconds.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Command = list[bytes]


@dataclass
class Cut:
    """Cut every connection when a client sends a command ``matches`` accepts.

    ``when``: ``"before"`` (the command never reaches Redis) or ``"after"`` (Redis
    runs it; the client never gets the reply). ``skip`` matching commands pass first;
    with ``after`` set, the cut waits until that cut has fired.
    """

    name: str
    matches: Callable[[Command], bool]
    when: str = "before"
    down_for: float = 2.0
    skip: int = 0
    times: int = 1
    after: Cut | None = None
    seen: int = 0
    fired: list[float] = field(default_factory=list)

    def take(self, command: Command) -> bool:
        if len(self.fired) >= self.times or not self.matches(command):
            return False
        if self.after is not None and not self.after.fired:
            return False
        self.seen += 1
        if self.seen <= self.skip:
            return False
        self.fired.append(time.time())
        return True


def parse_command(buffer: bytes, start: int = 0) -> tuple[Command, int] | None:
    """One RESP array of bulk strings from ``buffer[start:]``: (command, end), or None
    when the buffer does not hold a whole command yet."""
    if start >= len(buffer):
        return None
    if buffer[start : start + 1] != b"*":
        # An inline command (redis-cli's), one line.
        end = buffer.find(b"\r\n", start)
        return None if end < 0 else (buffer[start:end].split(), end + 2)
    end = buffer.find(b"\r\n", start)
    if end < 0:
        return None
    count = int(buffer[start + 1 : end])
    position = end + 2
    command: Command = []
    for _ in range(count):
        end = buffer.find(b"\r\n", position)
        if end < 0:
            return None
        length = int(buffer[position + 1 : end])
        data_start = end + 2
        if len(buffer) < data_start + length + 2:
            return None
        command.append(buffer[data_start : data_start + length])
        position = data_start + length + 2
    return command, position


class _Link:
    """One client connection and its connection to Redis."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.mute_replies = False

    def close(self) -> None:
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


class RedisProxy:
    """Forwards loopback connections to the Redis at ``upstream_port``; cuts on command."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.cuts: list[Cut] = []
        self.outages: list[tuple[str, float]] = []
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._stopped = threading.Event()

    def start(self) -> str:
        self._listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, daemon=True, name="redis-proxy").start()
        return f"redis://127.0.0.1:{self._listener.getsockname()[1]}/0"

    def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self._drop_all()

    def arm(self, *cuts: Cut) -> None:
        with self._lock:
            self.cuts.extend(cuts)

    def disarm(self) -> None:
        with self._lock:
            self.cuts.clear()

    def outage(self, reason: str, down_for: float) -> None:
        """Drop every connection now and refuse new ones for ``down_for`` seconds."""
        with self._lock:
            self._down_until = time.monotonic() + down_for
            self.outages.append((reason, time.time()))
        self._drop_all()

    def _drop_all(self) -> None:
        with self._lock:
            links, self._links = list(self._links), set()
        for link in links:
            link.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if time.monotonic() < self._down_until:
                client.close()  # the server is "restarting"
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            link = _Link(client, upstream)
            with self._lock:
                self._links.add(link)
            threading.Thread(target=self._requests, args=(link,), daemon=True).start()
            threading.Thread(target=self._replies, args=(link,), daemon=True).start()

    def _replies(self, link: _Link) -> None:
        try:
            while data := link.upstream.recv(65536):
                if not link.mute_replies:
                    link.client.sendall(data)
        except OSError:
            pass
        link.close()

    def _requests(self, link: _Link) -> None:
        buffer = b""
        try:
            while data := link.client.recv(65536):
                buffer += data
                forwarded = 0
                while (parsed := parse_command(buffer, forwarded)) is not None:
                    command, end = parsed
                    cut = self._take(command)
                    if cut is None:
                        forwarded = end
                        continue
                    if cut.when == "after":
                        link.mute_replies = True
                        link.upstream.sendall(buffer[:end])
                        time.sleep(0.2)  # Redis runs it; its reply is dropped
                    else:
                        link.upstream.sendall(buffer[:forwarded])
                    self.outage(cut.name, cut.down_for)
                    return
                link.upstream.sendall(buffer[:forwarded])
                buffer = buffer[forwarded:]
        except OSError:
            pass
        link.close()

    def _take(self, command: Command) -> Cut | None:
        if not command:
            return None
        command = [command[0].upper(), *command[1:]]
        with self._lock:
            for cut in self.cuts:
                if cut.take(command):
                    return cut
        return None
