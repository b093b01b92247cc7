"""core.download against a real HTTP server on loopback: ranges, resumes, restarts and failures."""

import hashlib
import itertools
import random
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from core.download import CHUNK_BYTES, DownloadError, download
from core.jobs import JobCancelled

PAYLOAD = random.Random(0).randbytes(3 * CHUNK_BYTES + 12_345)  # not a whole number of chunks
PREFIX = hashlib.sha256(PAYLOAD).hexdigest()[:8]


@dataclass
class Site:
    """What the test server serves, how it misbehaves, and what it saw."""

    url: str
    ranges: bool = True  # False: ignore Range headers and answer 200 with the whole file
    drop_after: int | None = None  # close the connection after this many body bytes
    status: int = 200  # anything else is answered as that error
    stall: bool = False  # answer only once `released` is set (at teardown)
    released: threading.Event = field(default_factory=threading.Event)
    requests: list[Message] = field(default_factory=list)  # the headers of each request
    sent: list[int] = field(default_factory=list)  # body bytes of each answer written in full


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_GET(self) -> None:
        site = self.server.site
        site.requests.append(self.headers)
        if site.stall:
            site.released.wait()
        if site.status != 200:
            self.send_error(site.status)
            return
        start = 0
        asked = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if site.ranges and asked:
            start = int(asked[1])
            if start >= len(PAYLOAD):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                site.sent.append(0)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        body = body[: site.drop_after]
        try:
            self.wfile.write(body)
        except ConnectionError:  # the client stopped reading: a cancel or a timeout
            return
        site.sent.append(len(body))

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests look at `Site` instead."""


class _Server(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.site = Site(f"http://127.0.0.1:{self.server_port}/models/vgg19-{PREFIX}.pth")


@pytest.fixture
def site() -> Iterator[Site]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield server.site
    server.site.released.set()
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "vgg19.pth"


def part_of(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def test_download_verifies_and_lands_atomically(site: Site, dest: Path) -> None:
    assert download(site.url, dest, sha256_prefix=PREFIX.upper()) == dest
    assert dest.read_bytes() == PAYLOAD
    assert list(dest.parent.iterdir()) == [dest]  # no .part left behind
    (request,) = site.requests
    assert request["Range"] is None
    assert request["User-Agent"].startswith("neural-easel/")


def test_progress_is_monotonic_and_ends_at_total(site: Site, dest: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    download(site.url, dest, progress=lambda done, total: calls.append((done, total)))
    done = [d for d, _ in calls]
    assert len(calls) >= 4  # per 1 MiB chunk
    assert done == sorted(done)
    assert {total for _, total in calls} == {len(PAYLOAD)}
    assert calls[-1] == (len(PAYLOAD), len(PAYLOAD))


def test_wrong_checksum_leaves_nothing(site: Site, dest: Path) -> None:
    wrong = format(int(PREFIX[0], 16) ^ 1, "x") + PREFIX[1:]
    with pytest.raises(DownloadError, match=r"vgg19-\w+\.pth from 127\.0\.0\.1 was corrupted.*Try again"):
        download(site.url, dest, sha256_prefix=wrong)
    assert list(dest.parent.iterdir()) == []


def test_interrupted_download_resumes_where_it_stopped(site: Site, dest: Path) -> None:
    site.drop_after = 1_000_000
    with pytest.raises(DownloadError, match=r"connection was lost.*resumes where it stopped"):
        download(site.url, dest, sha256_prefix=PREFIX)
    assert part_of(dest).read_bytes() == PAYLOAD[:1_000_000]
    assert not dest.exists()

    site.drop_after = None
    download(site.url, dest, sha256_prefix=PREFIX)
    assert site.requests[-1]["Range"] == "bytes=1000000-"
    assert site.sent[-1] == len(PAYLOAD) - 1_000_000
    assert dest.read_bytes() == PAYLOAD
    assert not part_of(dest).exists()


def test_server_without_ranges_restarts_from_zero(site: Site, dest: Path) -> None:
    site.ranges = False
    site.drop_after = 1_000_000
    with pytest.raises(DownloadError):
        download(site.url, dest, sha256_prefix=PREFIX)
    site.drop_after = None
    calls: list[tuple[int, int | None]] = []
    download(site.url, dest, sha256_prefix=PREFIX, progress=lambda done, total: calls.append((done, total)))
    assert site.requests[-1]["Range"] == "bytes=1000000-"
    assert site.sent[-1] == len(PAYLOAD)
    assert calls[0] == (0, len(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD


@pytest.mark.parametrize(
    ("kept", "sent"),
    [
        pytest.param(PAYLOAD, [0], id="whole"),
        pytest.param(PAYLOAD + b"junk", [0, len(PAYLOAD)], id="too-long"),
        pytest.param(bytes(len(PAYLOAD)), [0, len(PAYLOAD)], id="same-size-but-wrong"),
    ],
)
def test_part_the_server_has_nothing_past(site: Site, dest: Path, kept: bytes, sent: list[int]) -> None:
    dest.parent.mkdir()
    part_of(dest).write_bytes(kept)
    download(site.url, dest, sha256_prefix=PREFIX)
    assert site.requests[0]["Range"] == f"bytes={len(kept)}-"
    assert site.sent == sent  # 416, then the whole file again unless the .part verified
    assert dest.read_bytes() == PAYLOAD
    assert not part_of(dest).exists()


def test_stop_keeps_the_part_for_a_resume(site: Site, dest: Path) -> None:
    polls = itertools.count()
    with pytest.raises(JobCancelled):
        download(site.url, dest, sha256_prefix=PREFIX, should_stop=lambda: next(polls) == 2)
    assert part_of(dest).read_bytes() == PAYLOAD[: 2 * CHUNK_BYTES]
    assert not dest.exists()

    download(site.url, dest, sha256_prefix=PREFIX)
    assert site.requests[-1]["Range"] == f"bytes={2 * CHUNK_BYTES}-"
    assert dest.read_bytes() == PAYLOAD


def test_no_connection_names_file_and_host(dest: Path) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(
        DownloadError,
        match=r"Cannot download vgg19\.pth from 127\.0\.0\.1: no internet connection\? \(.+\)\. Connect once",
    ):
        download(f"http://127.0.0.1:{port}/models/vgg19.pth", dest)
    assert not part_of(dest).exists()


def test_http_error_says_the_status(site: Site, dest: Path) -> None:
    site.status = 404
    with pytest.raises(DownloadError, match=r"from 127\.0\.0\.1: the server answered HTTP 404"):
        download(site.url, dest)
    assert not part_of(dest).exists()
    assert not dest.exists()


def test_silent_server_times_out(site: Site, dest: Path) -> None:
    site.stall = True
    with pytest.raises(DownloadError, match=r"from 127\.0\.0\.1: it timed out after 0\.1 s"):
        download(site.url, dest, timeout_s=0.1)


def test_verified_dest_needs_no_network(site: Site, dest: Path) -> None:
    dest.parent.mkdir()
    dest.write_bytes(PAYLOAD)
    assert download(site.url, dest, sha256_prefix=PREFIX) == dest
    assert site.requests == []


def test_damaged_dest_is_downloaded_again(site: Site, dest: Path) -> None:
    dest.parent.mkdir()
    dest.write_bytes(PAYLOAD[:-1])
    download(site.url, dest, sha256_prefix=PREFIX)
    assert dest.read_bytes() == PAYLOAD


def test_disk_errors_say_where(site: Site, dest: Path) -> None:
    dest.parent.write_bytes(b"")  # a file where the folder should be
    with pytest.raises(DownloadError, match=r"Cannot save vgg19\.pth in .*cache: "):
        download(site.url, dest)


def test_bad_arguments_are_bugs(dest: Path) -> None:
    with pytest.raises(ValueError, match="hex"):
        download("http://127.0.0.1:9/vgg19.pth", dest, sha256_prefix="vgg19")
    with pytest.raises(ValueError, match="http"):
        download("file:///etc/passwd", dest)
