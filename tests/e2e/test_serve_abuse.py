"""`harness serve` under abuse, with raw sockets: a connection that never completes its headers is closed by the
header deadline, 5,000 idle connections do not keep /healthz out, a full server answers JSON 503, nested JSON is
a JSON 400, a token in the query string never reaches the log (the harness_serve fixture checks every log line),
and a token with a trailing newline is the token."""

from __future__ import annotations

import json
import resource
import socket
import time

import requests

from .test_serve import TOKEN, harness_serve


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed sock (recv returned b"" or the connection was reset), None if not."""
    t0 = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - t0 < seconds:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - t0
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - t0
    return None


def test_a_connection_that_sends_nothing_or_trickles_its_headers_is_closed_at_the_header_deadline(tmp_path):
    with harness_serve(tmp_path, HARNESS_SERVE_HEADER_TIMEOUT_S="2") as serve:
        silent = connect(serve.url)
        trickle = connect(serve.url)
        trickle.sendall(b"GET /healthz HTTP/1.1\r\n")
        t0 = time.monotonic()
        closed = None
        while time.monotonic() - t0 < 8 and closed is None:  # one header byte every 0.5 s, never the end
            try:
                trickle.sendall(b"X")
            except OSError:
                closed = time.monotonic() - t0
            time.sleep(0.5)
        assert closed is not None and closed < 2 + 2, f"a trickling client held its connection ({closed})"
        waited = closed_within(silent, 6)
        assert waited is not None, "a connection that sent nothing was not closed"
        # a normal client on a kept-alive connection is served, again and again
        with requests.Session() as session:
            for _ in range(3):
                assert session.get(serve.url + "/healthz", timeout=5).status_code == 200


def test_five_thousand_idle_connections_do_not_keep_healthz_out(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 6000:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    idle: list[socket.socket] = []
    try:
        # the server may hold 4096 descriptors (soft = hard): 5,000 idle sockets would exhaust them without
        # its connection limit (1000 by default; at the limit the oldest idle connection is closed)
        with harness_serve(tmp_path, nofile=4096) as serve:
            for _ in range(5000):
                try:
                    idle.append(connect(serve.url))
                except OSError:
                    break  # the listen backlog is full: the flood is as big as it gets
            assert len(idle) >= 3000, f"only {len(idle)} idle connections could be opened"
            t0 = time.monotonic()
            answer = requests.get(serve.url + "/healthz", timeout=10)
            assert answer.status_code == 200 and answer.json()["status"] == "ok"
            assert time.monotonic() - t0 < 5
    finally:
        for sock in idle:
            sock.close()


def test_a_server_whose_connections_are_all_busy_answers_json_503(tmp_path):
    busy: list[socket.socket] = []
    with harness_serve(tmp_path, HARNESS_SERVE_MAX_CONNECTIONS="16", HARNESS_SERVE_HEADER_TIMEOUT_S="30") as serve:
        try:
            for _ in range(16):  # each a request in progress: headers complete, the body still to come
                sock = connect(serve.url)
                sock.sendall(
                    f"POST /runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                    "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{".encode()
                )
                busy.append(sock)
            time.sleep(0.5)
            extra = connect(serve.url)
            extra.settimeout(5)
            raw = b""
            while chunk := extra.recv(4096):
                raw += chunk
            head, _, body = raw.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503"), raw[:200]
            assert b"content-type: application/json" in head.lower()
            assert "busy" in json.loads(body)["error"]
        finally:
            for sock in busy:
                sock.close()
        assert serve.get("/healthz").status_code == 200  # and once they are gone, it serves again


def test_nested_json_is_a_json_400_and_errors_are_never_text(tmp_path):
    deep = "[" * 30_000 + "]" * 30_000  # under the 64 KiB body cap
    with harness_serve(tmp_path) as serve:
        runs = serve.post("/runs", data=deep, headers={"Content-Type": "application/json"})
        assert runs.status_code == 400 and "nested more than 64 deep" in runs.json()["error"]
        hook = serve.post("/flagger/confirm-rollout", token=None, data=deep)
        assert hook.status_code == 401 and hook.headers["content-type"] == "application/json"
        nan = serve.post("/runs", data='{"phase": NaN}', headers={"Content-Type": "application/json"})
        assert nan.status_code == 400 and nan.json()["error"]
        secret = serve.get(f"/healthz?token={TOKEN}&x=1")  # the fixture checks the log holds no token
        assert secret.status_code == 200
    assert "?[query redacted]" in (tmp_path / "serve.log").read_text()


def test_a_token_with_a_trailing_newline_is_the_token(tmp_path):
    with harness_serve(tmp_path, HARNESS_SERVE_TOKEN=TOKEN + "\n") as serve:
        assert serve.get("/runs/none").status_code == 404  # authenticated: the route answers, not 401
        assert serve.get("/runs/none", token="wrong-token-123456").status_code == 401
