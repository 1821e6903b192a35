"""A local AWS for the assess tests: moto in server mode behind a small recording proxy.

moto (server mode, a real HTTP endpoint on loopback) answers every API it implements. The proxy
in front of it answers, from recorded responses, the SageMaker operations moto 5.2 does not
implement (``ListUserProfiles``, ``DescribeUserProfile``, ``GetModelPackageGroupPolicy``; bodies
follow the response syntax of the SageMaker API reference) and can refuse chosen operations with
the ``AccessDeniedException`` body AWS JSON-protocol services send. Everything else is forwarded
to moto unchanged.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACCOUNT = "123456789012"
DOMAIN_ID = "d-insecure0001"


class Recorded:
    """Responses the proxy serves itself, keyed by ``X-Amz-Target``; and the denied targets."""

    def __init__(self) -> None:
        self.responses: dict[str, Any] = {}
        self.denied: set[str] = set()
        self.seen: list[str] = []
        self.sts_error: str | None = None  # an STS error code GetCallerIdentity answers with
        # moto 5.2 stores no EnableNetworkIsolation for models; remember it from CreateModel and
        # put it back into DescribeModel, as SageMaker answers
        self.isolated: dict[str, bool] = {}
        # nor ProcessingResources for processing jobs (a required field SageMaker always echoes)
        self.processing: dict[str, Any] = {}


def _handler(upstream: tuple[str, int], recorded: Recorded) -> type[BaseHTTPRequestHandler]:
    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and
            # delayed ACKs add 40 ms to every response
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for k, v in headers.items():
                if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            target = self.headers.get("X-Amz-Target", "")
            recorded.seen.append(target or f"{self.command} {self.path}")
            json_type = {"Content-Type": "application/x-amz-json-1.1"}
            if target in recorded.denied:
                action = target.split(".")[-1]
                msg = (
                    f"User: arn:aws:iam::{ACCOUNT}:user/auditor is not authorized to perform: "
                    f"sagemaker:{action} because no identity-based policy allows the "
                    f"sagemaker:{action} action"
                )
                data = {"__type": "AccessDeniedException", "Message": msg}
                self._reply(400, json.dumps(data).encode(), json_type)
                return
            if recorded.sts_error and b"Action=GetCallerIdentity" in body:
                # the STS query-protocol error document (STS API reference, Common Errors)
                xml = (
                    '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
                    f"<Type>Sender</Type><Code>{recorded.sts_error}</Code>"
                    "<Message>The security token included in the request is expired</Message>"
                    "</Error><RequestId>4e5d7d5c-0000-0000-0000-000000000000</RequestId>"
                    "</ErrorResponse>"
                )
                self._reply(403, xml.encode(), {"Content-Type": "text/xml"})
                return
            if target in recorded.responses:
                answer = recorded.responses[target]
                data = answer(json.loads(body or b"{}")) if callable(answer) else answer
                if isinstance(data, tuple):
                    status, data = data
                else:
                    status = 200
                self._reply(status, json.dumps(data).encode(), json_type)
                return
            if target == "SageMaker.CreateModel":
                req = json.loads(body or b"{}")
                recorded.isolated[req["ModelName"]] = bool(req.get("EnableNetworkIsolation"))
            if target == "SageMaker.CreateProcessingJob":
                req = json.loads(body or b"{}")
                recorded.processing[req["ProcessingJobName"]] = req.get("ProcessingResources")
            conn = http.client.HTTPConnection(*upstream, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            headers["Host"] = self.headers.get("Host", "")
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            if target == "SageMaker.DescribeModel" and resp.status == 200:
                model = json.loads(data)
                model["EnableNetworkIsolation"] = recorded.isolated.get(model["ModelName"], False)
                data = json.dumps(model).encode()
            if target == "SageMaker.DescribeProcessingJob" and resp.status == 200:
                job = json.loads(data)
                resources = recorded.processing.get(job.get("ProcessingJobName", ""))
                if resources is not None:
                    job["ProcessingResources"] = resources
                data = json.dumps(job).encode()
            self._reply(resp.status, data, dict(resp.getheaders()))
            conn.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    return Proxy


@contextmanager
def local_aws() -> Iterator[tuple[str, Recorded]]:
    """Start moto and the proxy on loopback; yield the proxy's URL and its recordings."""
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    recorded = Recorded()
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _handler(moto.get_host_and_port(), recorded))
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}", recorded
    finally:
        proxy.shutdown()
        proxy.server_close()
        moto.stop()


def _tarball(name: str, payload: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def clean_tarball() -> bytes:
    """A model.tar.gz holding only a JSON configuration."""
    return _tarball("config.json", b'{"architectures": ["BertModel"]}')


def pickle_payload() -> bytes:
    """Pickle bytes that call os.system when unpickled.

    Hand-assembled protocol-2 opcodes (GLOBAL, MARK, SHORT_BINUNICODE, TUPLE, REDUCE); nothing
    here is ever unpickled."""
    cmd = b"id"
    return b"\x80\x02cos\nsystem\n(\x8c" + bytes([len(cmd)]) + cmd + b"tR."


def pickle_tarball() -> bytes:
    """A SageMaker-style model.tar.gz whose model.pkl calls os.system when unpickled."""
    return _tarball("model.pkl", pickle_payload())
