"""The storage test fixtures work: real servers on loopback, read through gcsfs and s3fs, directly
and through the fault-injecting proxy."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import signal
from pathlib import Path

import pytest
import storage_servers
from storage_servers import FaultProxy, Server

PHOTO = bytes(range(256)) * 1600  # 400 KiB, every byte value, \r\n included


def _tree(root: Path) -> dict[str, bytes]:
    files = {"a.jpg": PHOTO, "more/b.png": PHOTO[::-1], "more/deeper/c.txt": b"text"}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def _raw(proxy: FaultProxy, path: str = "/") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_servers_listen_on_loopback_in_their_own_process_group(gcs_server: Server, s3_server: Server) -> None:
    for server in (gcs_server, s3_server):
        assert server.endpoint.startswith("http://127.0.0.1:")
        assert os.getpgid(server.pid) == server.pid != os.getpgid(0)


def test_stop_ends_the_process_group() -> None:
    server = storage_servers.start_gcs_emulator()
    server.stop()
    assert server.process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(server.pid, signal.SIG_DFL)


def test_reset_empties_a_server_and_helpers_overwrite() -> None:
    for start, create, upload in [
        (storage_servers.start_gcs_emulator, storage_servers.create_gcs_bucket, storage_servers.upload_gcs_bytes),
        (storage_servers.start_s3_server, storage_servers.create_s3_bucket, storage_servers.upload_s3_bytes),
    ]:
        with start() as server:
            create(server.endpoint, "bkt")
            upload(server.endpoint, "bkt", "k.txt", b"1")
            upload(server.endpoint, "bkt", "k.txt", b"2")  # moto refuses an anonymous overwrite
            fs = (storage_servers.gcs_filesystem if server.kind == "gcs" else storage_servers.s3_filesystem)(
                server.endpoint
            )
            assert fs.cat_file("bkt/k.txt") == b"2"
            server.reset()
            with pytest.raises(FileNotFoundError):
                fs.ls("bkt", refresh=True)


def test_gcsfs_lists_and_reads_the_emulator(gcs_server: Server, gcs_bucket: str, tmp_path: Path) -> None:
    files = _tree(tmp_path)
    names = storage_servers.upload_gcs_folder(
        gcs_server.endpoint, gcs_bucket, tmp_path, "photos", metadata={"camera": "x100"}
    )
    assert names == sorted(f"photos/{rel}" for rel in files)
    fs = storage_servers.gcs_filesystem(gcs_server.endpoint)

    listing = fs.find(f"{gcs_bucket}/photos", detail=True)

    assert sorted(listing) == [f"{gcs_bucket}/{name}" for name in names]
    info = listing[f"{gcs_bucket}/photos/a.jpg"]
    assert info["size"] == len(PHOTO)
    assert info["contentType"] == "image/jpeg"
    assert info["md5Hash"] == base64.b64encode(hashlib.md5(PHOTO).digest()).decode()
    assert info["metadata"] == {"camera": "x100"}
    assert int(info["generation"]) > 0 and info["updated"].endswith("Z")
    assert fs.cat_file(f"{gcs_bucket}/photos/more/b.png") == files["more/b.png"]
    assert fs.cat_file(f"{gcs_bucket}/photos/a.jpg", start=10, end=20) == PHOTO[10:20]


def test_gcsfs_finds_the_emulator_by_storage_emulator_host(
    gcs_server: Server, gcs_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage_servers.upload_gcs_bytes(gcs_server.endpoint, gcs_bucket, "x.bin", b"abc")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.endpoint)
    import gcsfs

    fs = gcsfs.GCSFileSystem(token="anon", skip_instance_cache=True)
    assert fs.cat_file(f"{gcs_bucket}/x.bin") == b"abc"


def test_s3fs_lists_and_reads_moto(s3_server: Server, s3_bucket: str, tmp_path: Path) -> None:
    files = _tree(tmp_path)
    keys = storage_servers.upload_s3_folder(s3_server.endpoint, s3_bucket, tmp_path, "photos")
    fs = storage_servers.s3_filesystem(s3_server.endpoint)

    listing = fs.find(f"{s3_bucket}/photos", detail=True)

    assert sorted(listing) == [f"{s3_bucket}/{key}" for key in keys]
    info = listing[f"{s3_bucket}/photos/a.jpg"]
    assert info["size"] == len(PHOTO)
    assert info["ETag"] == f'"{hashlib.md5(PHOTO).hexdigest()}"'
    assert fs.cat_file(f"{s3_bucket}/photos/more/b.png") == files["more/b.png"]
    assert fs.cat_file(f"{s3_bucket}/photos/a.jpg", start=10, end=20) == PHOTO[10:20]


def test_s3_custom_metadata(s3_server: Server, s3_bucket: str) -> None:
    storage_servers.upload_s3_bytes(s3_server.endpoint, s3_bucket, "m.bin", b"m", metadata={"camera": "x100"})
    fs = storage_servers.s3_filesystem(s3_server.endpoint)
    assert fs.metadata(f"{s3_bucket}/m.bin") == {"camera": "x100"}


def test_gcsfs_through_the_proxy_is_counted(gcs_proxy: FaultProxy, gcs_server: Server, gcs_bucket: str) -> None:
    for name in ("p/1.jpg", "p/2.jpg"):
        storage_servers.upload_gcs_bytes(gcs_server.endpoint, gcs_bucket, name, PHOTO)
    fs = storage_servers.gcs_filesystem(gcs_proxy.endpoint)

    assert fs.cat([f"{gcs_bucket}/p/1.jpg", f"{gcs_bucket}/p/2.jpg"]) == {
        f"{gcs_bucket}/p/1.jpg": PHOTO,
        f"{gcs_bucket}/p/2.jpg": PHOTO,
    }
    assert gcs_proxy.count("GET", "alt=media") == 2
    gcs_proxy.reset_counts()
    assert len(fs.find(f"{gcs_bucket}/p", detail=True)) == 2
    assert gcs_proxy.count() == 1 and gcs_proxy.count(path_contains="alt=media") == 0


def test_gcsfs_retries_503_and_resets(gcs_proxy: FaultProxy, gcs_server: Server, gcs_bucket: str) -> None:
    storage_servers.upload_gcs_bytes(gcs_server.endpoint, gcs_bucket, "r.jpg", PHOTO)
    fs = storage_servers.gcs_filesystem(gcs_proxy.endpoint)
    gcs_proxy.fail_next(2, 503)

    assert fs.cat_file(f"{gcs_bucket}/r.jpg") == PHOTO

    assert [r.outcome for r in gcs_proxy.requests] == ["503", "503", "200"]  # after ~1 s and ~2 s of backoff
    # aiohttp itself sends an idempotent request again once when the connection drops before an
    # answer, so two resets cost gcsfs one retry of its own.
    gcs_proxy.reset_counts()
    gcs_proxy.fail_next(2, "reset")
    assert fs.cat_file(f"{gcs_bucket}/r.jpg") == PHOTO
    assert [r.outcome for r in gcs_proxy.requests] == ["reset", "reset", "200"]


def test_gcsfs_403_is_a_permission_error_at_once(gcs_proxy: FaultProxy, gcs_bucket: str) -> None:
    gcs_proxy.fail_matching("/o", 403)
    fs = storage_servers.gcs_filesystem(gcs_proxy.endpoint)
    with pytest.raises(OSError, match="Forbidden"):
        fs.find(gcs_bucket)
    assert gcs_proxy.count() == 1


def test_s3fs_retries_503_and_resets(s3_proxy: FaultProxy, s3_server: Server, s3_bucket: str) -> None:
    storage_servers.upload_s3_bytes(s3_server.endpoint, s3_bucket, "r.jpg", PHOTO)
    fs = storage_servers.s3_filesystem(s3_proxy.endpoint, max_concurrency=1)  # GET only, no HEAD first
    s3_proxy.fail_next(1, 503)
    s3_proxy.fail_next(1, "reset")

    assert fs.cat_file(f"{s3_bucket}/r.jpg") == PHOTO

    assert [(r.method, r.outcome) for r in s3_proxy.requests] == [("GET", "503"), ("GET", "reset"), ("GET", "200")]


def test_s3fs_403_is_a_permission_error(s3_proxy: FaultProxy, s3_bucket: str) -> None:
    s3_proxy.fail_matching("list-type=2", 403)
    fs = storage_servers.s3_filesystem(s3_proxy.endpoint)
    with pytest.raises(PermissionError):
        fs.find(s3_bucket)
    assert s3_proxy.count() == 1


def test_proxy_faults_seen_by_a_raw_request(gcs_proxy: FaultProxy) -> None:
    assert _raw(gcs_proxy) == (200, b"OK")  # the emulator's health check
    gcs_proxy.fail_next(1, 503)
    status, body = _raw(gcs_proxy)
    assert status == 503 and b"injected by FaultProxy" in body
    gcs_proxy.fail_next(1, "reset")
    with pytest.raises(ConnectionResetError):  # http.client's RemoteDisconnected is one too
        _raw(gcs_proxy)
    gcs_proxy.fail_every(2, 429, path_contains="/b/no-such-bucket")
    assert [_raw(gcs_proxy, "/storage/v1/b/no-such-bucket")[0] for _ in range(4)] == [404, 429, 404, 429]
    assert _raw(gcs_proxy)[0] == 200
    assert [r.outcome for r in gcs_proxy.requests] == ["200", "503", "reset", "404", "429", "404", "429", "200"]
    assert gcs_proxy.counts()[("GET", "/storage/v1/b/no-such-bucket")] == 4


def test_proxy_speaks_s3_errors(s3_proxy: FaultProxy) -> None:
    s3_proxy.fail_next(1, 503)
    s3_proxy.fail_next(1, 503, code="ServiceUnavailable", message="busy")
    status, body = _raw(s3_proxy)
    assert status == 503 and b"<Code>SlowDown</Code>" in body
    status, body = _raw(s3_proxy)
    assert status == 503 and b"<Code>ServiceUnavailable</Code><Message>busy</Message>" in body
    assert _raw(s3_proxy)[0] == 200
