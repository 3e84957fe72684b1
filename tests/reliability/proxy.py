"""A small TCP proxy for fault injection between the app and its database (reliability #41): pass
bytes through, delay them, blackhole them (accept and never answer), or reset every connection."""
from __future__ import annotations

import contextlib
import socket
import threading
import time


class FaultProxy:
    """Listens on 127.0.0.1:<port> and forwards to (host, port). `mode` is "pass", "delay" (each chunk
    from the database waits `delay` seconds) or "blackhole"; `reset()` cuts every open connection."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.mode = "pass"
        self.delay = 0.0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets |= {client, server}
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, from_database: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if self.mode == "blackhole":
                    continue  # swallowed: the other side waits for an answer that never comes
                if self.mode == "delay" and from_database:
                    time.sleep(self.delay)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def reset(self) -> None:
        """Cut every connection now (the database 'dies' mid-transaction)."""
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            self._close(sock)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.reset()
