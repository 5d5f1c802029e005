"""Every network read has an end-to-end deadline: a tiny local server that trickles its answer one byte at a time
(which no per-read socket timeout ever trips) ends at the deadline, with the deadline in the error. Real sockets on
loopback; no fake client."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from harness.http import AnswerTooLarge, DeadlineExceeded, DeadlineSession, ws_connect


@contextmanager
def server(answer: bytes, *, trickle_from: int, step_s: float = 0.2) -> Iterator[str]:
    """Serves `answer` to every connection: the first trickle_from bytes at once, the rest a byte every step_s."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            try:
                conn.sendall(answer[:trickle_from])
                for i in range(trickle_from, len(answer)):
                    if stop.is_set():
                        return
                    conn.sendall(answer[i : i + 1])
                    time.sleep(step_s)
            except OSError:
                return

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        sock.close()


BODY = b'{"ok": true}' + b" " * 200
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY


@pytest.mark.parametrize("trickle_from", [0, len(ANSWER) - len(BODY)], ids=["status-line", "body"])
def test_a_trickled_answer_ends_at_the_deadline_naming_it(trickle_from):
    with server(ANSWER, trickle_from=trickle_from) as where, DeadlineSession(1.0) as session:
        t0 = time.monotonic()
        with pytest.raises(DeadlineExceeded, match=r"GET http://.*/x did not finish answering within 1 s") as err:
            session.get(f"http://{where}/x?token=secret", timeout=5)  # each byte comes well within the 5 s timeout
        assert time.monotonic() - t0 < 1 + 1
        assert "secret" not in str(err.value)
        assert isinstance(err.value, requests.Timeout)
        t0 = time.monotonic()  # the session does not ask a target that stalled it again
        with pytest.raises(DeadlineExceeded):
            session.get(f"http://{where}/y", timeout=5)
        assert time.monotonic() - t0 < 0.5


def test_stream_requests_are_bounded_too_and_a_whole_answer_passes():
    with server(ANSWER, trickle_from=len(ANSWER)) as where, DeadlineSession(2.0) as session:
        resp = session.get(f"http://{where}/x", stream=True, timeout=2)
        assert resp.json() == {"ok": True}
    with server(ANSWER, trickle_from=10) as where, DeadlineSession(0.5) as session:
        with pytest.raises(DeadlineExceeded):
            session.get(f"http://{where}/x", stream=True, timeout=5)


def test_an_answer_past_max_bytes_is_refused():
    with server(ANSWER, trickle_from=len(ANSWER)) as where, DeadlineSession(2.0, max_bytes=100) as session:
        with pytest.raises(AnswerTooLarge, match="more than 100 bytes"):
            session.get(f"http://{where}/x", timeout=2)


def test_a_websocket_handshake_that_trickles_ends_at_the_deadline():
    import websocket

    handshake = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    with server(handshake, trickle_from=0) as where:
        t0 = time.monotonic()
        with pytest.raises(websocket.WebSocketTimeoutException, match="within 1 s"):
            ws_connect(f"ws://{where}/ws", deadline_s=1.0, timeout=5)
        assert time.monotonic() - t0 < 1 + 1
