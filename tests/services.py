"""Real processes for integration tests: `hyperquest serve`, `hyperquest worker`, a private
redis-server, and a TCP proxy that can cut the web app off from PostgreSQL."""

from __future__ import annotations

import contextlib
import select
import socket
import subprocess
import threading
import time

import redis

from bench.processes import free_port


REDIS_URL = "redis://127.0.0.1:6379/0"


def wait_for(predicate, timeout: float, what: str, processes) -> object:
    """``predicate()``'s first truthy value within ``timeout`` s; else fail with the processes' output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    logs = "\n".join(f"--- {p.name}\n{p.output}" for p in processes)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def redis_available(url: str = REDIS_URL) -> bool:
    """True when Redis answers a ping."""
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def delete_prefix(url: str, prefix: str) -> None:
    """Remove every key a test created under ``prefix``."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass


class PrivateRedis:
    """A redis-server of the test's own on a free port, so the test may stop and restart it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start (or restart) it with no persistence: a restart loses every queued message."""
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not redis_available(self.url):
            if time.monotonic() > deadline:
                raise AssertionError("private redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """Kill it (no shutdown save)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class TcpProxy:
    """Forwards ``host``:port to 127.0.0.1:target_port; ``cut()`` drops every connection and refuses new ones."""

    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.target_port = target_port
        self.port = free_port()
        self._open = threading.Event()
        self._open.set()
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server((host, self.port))
        self._listener.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """PostgreSQL 'goes away': existing connections are reset, new ones are closed at once."""
        self._open.clear()
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.close()
            self._conns.clear()

    def restore(self) -> None:
        """PostgreSQL is back."""
        self._open.set()

    def close(self) -> None:
        """Stop the proxy."""
        self._stop.set()
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            if not self._open.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while self._open.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.2)
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        return
                    (b if src is a else a).sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()
