"""Drive a running hub as a learner would, through its REST API and a kernel websocket.

Used by ``room.py check`` and ``room.py sizing``: log in (a token from username and password),
start the server, open a notebook's session, run its code cells one by one in that learner's own
kernel, and read or write files through the server's contents API.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field

import requests
import websocket


class HubError(RuntimeError):
    """Something the hub or a learner's server answered that the check did not expect."""


@dataclass
class CellResult:
    index: int
    seconds: float
    status: str  # ok, error, died (the kernel died or restarted), timeout
    error: str = ""
    stdout: str = ""


@dataclass
class Learner:
    base: str  # http://127.0.0.1:PORT (the proxy)
    name: str
    password: str
    token: str = ""
    timings: dict = field(default_factory=dict)

    # ---- the hub ----
    def login(self, password: str | None = None) -> requests.Response:
        """POST /hub/api/users/NAME/tokens with username and password; keeps the token on success."""
        r = requests.post(f"{self.base}/hub/api/users/{self.name}/tokens",
                          json={"auth": {"username": self.name, "password": password or self.password},
                                "note": "workshop check", "expires_in": 3600}, timeout=60)
        if r.status_code in (200, 201):
            self.token = r.json()["token"]
        return r

    @property
    def headers(self) -> dict:
        return {"Authorization": f"token {self.token}"}

    def hub(self, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, f"{self.base}/hub/api{path}", headers=self.headers, timeout=60, **kw)

    def server_state(self) -> dict:
        r = self.hub("GET", f"/users/{self.name}")
        if r.status_code != 200:
            raise HubError(f"GET /hub/api/users/{self.name}: HTTP {r.status_code}")
        return r.json()

    def start_server(self, timeout: float = 240) -> float:
        """Start this learner's server and wait until the hub says it is ready; return seconds."""
        t0 = time.perf_counter()
        deadline = time.monotonic() + timeout
        while True:
            r = self.hub("POST", f"/users/{self.name}/server")
            if r.status_code in (201, 202):
                break
            if r.status_code == 400 and "already running" in r.text and self.server_state()["servers"].get("", {}).get("ready"):
                break
            if time.monotonic() > deadline:
                raise HubError(f"{self.name}: the hub did not accept a server start: HTTP {r.status_code} {r.text[:200]}")
            time.sleep(1)  # e.g. the hub has not yet noticed that the old server died
        while time.monotonic() < deadline:
            server = self.server_state()["servers"].get("")
            if server and server.get("ready"):
                return time.perf_counter() - t0
            if server is None:  # the spawn failed and the hub dropped the server (its log says why)
                raise HubError(f"{self.name}: the server failed to start (see the hub's log)")
            time.sleep(0.5)
        raise HubError(f"{self.name}: server not ready after {timeout:.0f} s")

    def stop_server(self, timeout: float = 60) -> None:
        self.hub("DELETE", f"/users/{self.name}/server")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.server_state()["servers"]:
                return
            time.sleep(0.5)
        raise HubError(f"{self.name}: server still running {timeout:.0f} s after stop")

    # ---- the learner's own server, through the proxy ----
    def server(self, method: str, path: str, as_token: str | None = None, **kw) -> requests.Response:
        headers = {"Authorization": f"token {as_token or self.token}"}
        return requests.request(method, f"{self.base}/user/{self.name}/api{path}", headers=headers,
                                timeout=60, allow_redirects=False, **kw)

    def put_text(self, path: str, text: str) -> None:
        r = self.server("PUT", f"/contents/{path}", json={"type": "file", "format": "text", "content": text})
        if r.status_code not in (200, 201):
            raise HubError(f"{self.name}: PUT /contents/{path}: HTTP {r.status_code}")

    def get_text(self, path: str) -> str | None:
        r = self.server("GET", f"/contents/{path}", params={"content": 1, "format": "text", "type": "file"})
        return r.json()["content"] if r.status_code == 200 else None

    def listing(self, path: str = "") -> dict:
        r = self.server("GET", f"/contents/{path}", params={"content": 1})
        if r.status_code != 200:
            raise HubError(f"{self.name}: GET /contents/{path}: HTTP {r.status_code}")
        return {item["name"]: item.get("size") for item in r.json()["content"]}

    def open_kernel(self, notebook: str, kernel: str = "noise-to-art") -> Kernel:
        r = self.server("POST", "/sessions", json={"path": notebook, "type": "notebook", "name": notebook,
                                                  "kernel": {"name": kernel}})
        if r.status_code not in (200, 201):
            raise HubError(f"{self.name}: POST /sessions for {notebook}: HTTP {r.status_code} {r.text[:200]}")
        kernel_id = r.json()["kernel"]["id"]
        return Kernel(self, kernel_id, self.kernel_socket(kernel_id))

    def kernel_socket(self, kernel_id: str):
        """A new websocket to one of this learner's kernels (its channels, as JupyterLab opens them)."""
        ws_base = self.base.replace("http://", "ws://").replace("https://", "wss://")
        url = f"{ws_base}/user/{self.name}/api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}"
        return websocket.create_connection(url, header=[f"Authorization: token {self.token}"], timeout=30)


class Kernel:
    """A kernel websocket (Jupyter messaging protocol 5.3, JSON frames).

    A thread reads the socket all the time: that answers the server's pings (an unread socket is
    closed by the server after two minutes) and queues the messages for :meth:`execute`.
    """

    CLOSED = object()

    def __init__(self, learner: Learner, kernel_id: str, ws):
        self.learner, self.id = learner, kernel_id
        self.session = uuid.uuid4().hex
        self._attach(ws)

    def _attach(self, ws) -> None:
        self.ws, self.inbox = ws, queue.Queue()
        self.reader = threading.Thread(target=self._read, args=(ws, self.inbox), daemon=True)
        self.reader.start()

    def _read(self, ws, inbox: queue.Queue) -> None:
        ws.settimeout(None)
        while True:
            try:
                raw = ws.recv()
            except Exception as err:  # closed, reset: execute() reports it
                inbox.put((self.CLOSED, str(err) or type(err).__name__))
                return
            if raw:
                inbox.put(json.loads(raw))
            elif not ws.connected:
                inbox.put((self.CLOSED, "closed by the server"))
                return

    def execute(self, code: str, timeout: float = 600, index: int = -1) -> CellResult:
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": self.learner.name, "session": self.session,
                       "msg_type": "execute_request", "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))
        t0 = time.perf_counter()
        deadline = time.monotonic() + timeout
        reply, idle, error, out = None, False, "", []
        while not (reply and idle):
            left = deadline - time.monotonic()  # checked on every message: a chatty kernel cannot stretch it
            try:
                if left <= 0:
                    raise queue.Empty
                msg = self.inbox.get(timeout=left)
            except queue.Empty:
                return CellResult(index, time.perf_counter() - t0, "timeout", f"no reply within {timeout:.0f} s")
            if isinstance(msg, tuple) and msg[0] is self.CLOSED:
                self.inbox.put(msg)  # stays closed for the next call
                return CellResult(index, time.perf_counter() - t0, "died", f"websocket closed: {msg[1]}")
            mtype = msg.get("msg_type") or msg["header"]["msg_type"]
            if mtype == "status" and msg["content"].get("execution_state") in ("restarting", "dead"):
                return CellResult(index, time.perf_counter() - t0, "died", f"kernel {msg['content']['execution_state']}")
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if mtype == "execute_reply":
                reply = msg["content"]
            elif mtype == "status" and msg["content"].get("execution_state") == "idle":
                idle = True
            elif mtype == "error":
                error = f"{msg['content']['ename']}: {msg['content']['evalue']}"
            elif mtype == "stream" and msg["content"].get("name") == "stdout":
                out.append(msg["content"]["text"])
        seconds = time.perf_counter() - t0
        if reply.get("status") != "ok":
            return CellResult(index, seconds, "error", error or reply.get("ename", "error"), "".join(out))
        return CellResult(index, seconds, "ok", "", "".join(out))

    def reconnect(self, timeout: float = 120) -> float:
        """After this kernel died: a new websocket to it, until it answers; return seconds.

        Jupyter restarts a dead kernel under the same id but on new ports, and a websocket opened
        before the restart keeps talking to the old ones; JupyterLab opens a new one, and so does
        this. Deleting the kernel (or opening the notebook's session again) while the restart runs
        races it: the DELETE fails with HTTP 500 inside the server and the session left behind
        points at a kernel that never answers (what a clean-clone CI run met: a 600 s timeout).
        """
        t0 = time.perf_counter()
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                self.ws.close()
            except Exception:
                pass
            try:
                self._attach(self.learner.kernel_socket(self.id))
            except Exception as err:  # the server may refuse while the restart runs
                last = f"{type(err).__name__}: {err}"
                time.sleep(1)
                continue
            res = self.execute("pass", timeout=max(1.0, min(15.0, deadline - time.monotonic())))
            if res.status == "ok":
                return time.perf_counter() - t0
            last = f"{res.status}: {res.error}"
            time.sleep(1)
        raise HubError(f"{self.learner.name}: kernel {self.id} did not answer within {timeout:.0f} s after it died ({last})")

    def run_notebook(self, cells: list[str], timeout: float = 600) -> list[CellResult]:
        results = []
        for i, code in enumerate(cells):
            res = self.execute(code, timeout=timeout, index=i)
            results.append(res)
            if res.status != "ok":
                break
        return results

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass
        try:
            self.learner.server("DELETE", f"/kernels/{self.id}")
        except requests.RequestException:
            pass


def code_cells(notebook_path) -> list[str]:
    nb = json.loads(open(notebook_path, encoding="utf-8").read())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
