"""Object tables and models on real object-store servers (a GCS emulator, moto's S3) with no bucket
mapping: the same results as from a local folder, the stores' metadata, retries through a
fault-injecting proxy, the content cache, and each failure's message."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import storage_servers
from storage_servers import FaultProxy, Server

from bqml_magic import Engine
from bqml_magic.errors import LimitError, StorageError
from bqml_magic.storage import remote_listing
from bqml_magic.storage.objects import ObjectRef, ObjectStore
from bqml_magic.storage.remote import RemoteStores
from bqml_magic.storage.uris import BucketMap

BUCKET = "bqml-samples"
STORES = ["gs", "s3"]
TAG = {"team": "vision", "license": "public domain"}
IMAGES = """SELECT uri, ML.CONVERT_COLOR_SPACE(ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 32, 48, TRUE), 'GRAYSCALE') AS img
            FROM d.photos WHERE content_type = 'image/jpeg' ORDER BY uri"""
PREDICT = """SELECT uri, predictions FROM ML.PREDICT(MODEL d.classifier,
               (SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS input_1
                FROM d.photos WHERE content_type = 'image/jpeg')) ORDER BY uri"""


@pytest.fixture(scope="module")
def servers(gcs_server: Server, s3_server: Server, sample_set) -> dict[str, Server]:
    """Both servers, each holding the sample photos under ``photos/`` (plus a text file with custom
    metadata) and the ONNX sample models under ``models/``."""
    photos, models = sample_set.bucket / "photos", sample_set.root / "models" / "onnx"
    storage_servers.create_gcs_bucket(gcs_server.endpoint, BUCKET)
    storage_servers.upload_gcs_folder(gcs_server.endpoint, BUCKET, photos, "photos")
    storage_servers.upload_gcs_bytes(gcs_server.endpoint, BUCKET, "photos/notes.txt", b"not an image", metadata=TAG)
    storage_servers.upload_gcs_folder(gcs_server.endpoint, BUCKET, models, "models")
    storage_servers.create_s3_bucket(s3_server.endpoint, BUCKET)
    storage_servers.upload_s3_folder(s3_server.endpoint, BUCKET, photos, "photos")
    storage_servers.upload_s3_bytes(s3_server.endpoint, BUCKET, "photos/notes.txt", b"not an image")
    storage_servers.upload_s3_folder(s3_server.endpoint, BUCKET, models, "models")
    return {"gs": gcs_server, "s3": s3_server}


def options(store: str, endpoint: str, **extra: Any) -> dict[str, dict[str, Any]]:
    """Storage options reaching one server (or a proxy in front of it) with test credentials."""
    if store == "gs":
        return {"gs": {"endpoint_url": endpoint, "token": "anon", "project": "test-project", **extra}}
    return {"s3": {"endpoint_url": endpoint, "key": "testing", "secret": "testing", **extra}}


@pytest.fixture
def engine_on(tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    """``engine_on(store, endpoint, **Engine kwargs)``: an engine reading that store, with its own
    object cache; closed after the test."""
    engines: list[Engine] = []

    def make(store: str, endpoint: str, store_options: dict[str, Any] | None = None, **kwargs: Any) -> Engine:
        kwargs.setdefault("cache_dir", tmp_path / "cache")
        engine = Engine(storage_options=options(store, endpoint, **(store_options or {})), **kwargs)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def photos_table(engine: Engine, store: str, pattern: str = "photos/*") -> None:
    engine.query(
        f"""CREATE SCHEMA IF NOT EXISTS d;
            CREATE OR REPLACE EXTERNAL TABLE d.photos WITH CONNECTION `us.c`
            OPTIONS(object_metadata = 'SIMPLE', uris = ['{store}://{BUCKET}/{pattern}'])"""
    )


@pytest.fixture(scope="module")
def local(sample_set, tmp_path_factory) -> Engine:
    """The same photos and model from a mapped local folder: what every store must give."""
    bucket = tmp_path_factory.mktemp("local")
    shutil.copytree(sample_set.bucket / "photos", bucket / "photos")
    (bucket / "photos" / "notes.txt").write_bytes(b"not an image")
    shutil.copytree(sample_set.root / "models" / "onnx", bucket / "models")
    engine = Engine(buckets={BUCKET: bucket})
    photos_table(engine, "gs")
    engine.query(
        f"CREATE MODEL d.classifier OPTIONS(model_type = 'ONNX', model_path = 'gs://{BUCKET}/models/classifier.onnx')"
    )
    return engine


def media_gets(proxy: FaultProxy, store: str, folder: str = "/photos/") -> int:
    """Object reads the proxy saw below a folder (not listings or metadata requests)."""
    if store == "gs":
        return proxy.count("GET", "alt=media")
    return sum(1 for r in proxy.requests if r.method == "GET" and folder in r.path and "list-type" not in r.path)


# -- listing ------------------------------------------------------------------------------------
@pytest.mark.parametrize("store", STORES)
def test_listing_shows_the_stores_metadata(servers, engine_on, local: Engine, store: str):
    engine = engine_on(store, servers[store].endpoint)
    photos_table(engine, store)
    listed = engine.query("SELECT * FROM d.photos ORDER BY uri")
    expected = local.query("SELECT uri, size, md5_hash, content_type FROM d.photos ORDER BY uri")
    assert listed.uri.str.replace(f"{store}://", "gs://").tolist() == expected.uri.tolist()
    assert listed["size"].tolist() == expected["size"].tolist()
    assert listed.md5_hash.tolist() == expected.md5_hash.tolist()  # the store's digest, or computed when it has none
    assert listed.content_type.tolist() == expected.content_type.tolist()
    assert (listed.generation > 0).all() and listed.updated.dt.tz is not None
    assert listed.ref.map(lambda r: r["authorizer"]).eq("us.c").all()
    notes = listed.set_index("uri").loc[f"{store}://{BUCKET}/photos/notes.txt"]
    if store == "gs":  # custom metadata is in GCS's listing; S3's listing carries none
        assert {m["name"]: m["value"] for m in notes.metadata} == TAG
    else:
        assert list(notes.metadata) == []


def test_an_s3_listing_is_read_page_by_page(servers, engine_on, s3_proxy: FaultProxy, monkeypatch):
    monkeypatch.setattr(remote_listing, "PAGE_OBJECTS", 3)
    engine = engine_on("s3", s3_proxy.endpoint)
    photos_table(engine, "s3")
    s3_proxy.reset_counts()
    assert len(engine.query("SELECT uri FROM d.photos")) == 11  # re-listed first: no max_staleness
    assert s3_proxy.count("GET", "list-type=2") == 4  # 11 objects, 3 a page


@pytest.mark.parametrize("store", STORES)
def test_a_pattern_matches_by_prefix_and_suffix(servers, engine_on, store: str):
    engine = engine_on(store, servers[store].endpoint)
    photos_table(engine, store, "photos/c*.png")
    uris = engine.query("SELECT uri FROM d.photos ORDER BY uri").uri.tolist()
    assert uris == [f"{store}://{BUCKET}/photos/{n}" for n in ("camera.png", "chelsea.png", "coffee.png")]
    photos_table(engine, store, "photos/china.jpg")
    assert engine.query("SELECT uri FROM d.photos").uri.tolist() == [f"{store}://{BUCKET}/photos/china.jpg"]
    photos_table(engine, store, "photos/none.jpg")  # GCS: no such object matches nothing
    assert engine.query("SELECT uri FROM d.photos").empty


# -- reads and models ---------------------------------------------------------------------------
@pytest.mark.parametrize("store", STORES)
def test_image_functions_and_predictions_match_a_local_folder_bit_for_bit(servers, engine_on, local, store):
    engine = engine_on(store, servers[store].endpoint)
    photos_table(engine, store)
    engine.query(
        f"CREATE MODEL d.classifier OPTIONS(model_type = 'ONNX', model_path = '{store}://{BUCKET}/models/classifier.onnx')"
    )
    for sql in (IMAGES, PREDICT):
        ours, theirs = engine.query(sql), local.query(sql)
        assert ours.uri.str.replace(f"{store}://", "gs://").tolist() == theirs.uri.tolist()
        column = ours.columns[1]
        for a, b in zip(ours[column], theirs[column]):
            a = a["values"] if isinstance(a, dict) else a
            b = b["values"] if isinstance(b, dict) else b
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("store", STORES)
def test_transient_failures_are_retried_with_identical_results(servers, engine_on, local, fault_proxy, store):
    proxy = fault_proxy(servers[store])
    engine = engine_on(store, proxy.endpoint, cache_size=0)
    photos_table(engine, store)
    proxy.fail_every(3, 503, times=3)
    proxy.fail_every(4, "reset", times=2)
    proxy.fail_next(1, 429)
    ours, theirs = engine.query(IMAGES), local.query(IMAGES)
    assert proxy.count(outcome="503") == 3 and proxy.count(outcome="reset") == 2
    assert len(ours) == len(theirs) == 5
    for a, b in zip(ours.img, theirs.img):
        np.testing.assert_array_equal(a["values"], b["values"])


def test_a_permanently_failing_object_names_its_uri(servers, engine_on, s3_proxy: FaultProxy):
    engine = engine_on("s3", s3_proxy.endpoint, {"config_kwargs": {"retries": {"max_attempts": 2}}})
    photos_table(engine, "s3")
    s3_proxy.fail_matching("/photos/china.jpg", 503)
    with pytest.raises(StorageError, match=rf"s3://{BUCKET}/photos/china\.jpg: the store answered HTTP 503"):
        engine.query(IMAGES)


@pytest.mark.slow
def test_a_permanently_failing_gcs_object_names_its_uri_after_gcsfs_retries(servers, engine_on, gcs_proxy):
    engine = engine_on("gs", gcs_proxy.endpoint)
    photos_table(engine, "gs")
    gcs_proxy.fail_matching("china.jpg", 503)
    with pytest.raises(StorageError, match=rf"gs://{BUCKET}/photos/china\.jpg: the store answered HTTP 503"):
        engine.query(IMAGES)
    assert gcs_proxy.count("GET", "alt=media", outcome="503") == 6  # gcsfs's attempts


@pytest.mark.parametrize("store", STORES)
def test_a_model_comes_from_the_store_checked_before_download(servers, engine_on, fault_proxy, store, monkeypatch):
    proxy = fault_proxy(servers[store])
    engine = engine_on(store, proxy.endpoint)
    engine.query("CREATE SCHEMA d")
    path = f"{store}://{BUCKET}/models/classifier.onnx"
    report = engine.dry_run(f"CREATE MODEL d.m OPTIONS(model_type = 'ONNX', model_path = '{path}')")
    assert report.problems == [] and f"copies {path}: 1 file(s)" in report.summary()
    assert report.summary().count("copies") == 1 and "models/*" not in report.summary()
    folder = engine.dry_run(
        f"CREATE MODEL d.m OPTIONS(model_type = 'ONNX', model_path = '{store}://{BUCKET}/models/*')"
    )
    assert f"copies {store}://{BUCKET}/models/*: 2 file(s)" in folder.summary()
    from bqml_magic.runtimes import limits

    monkeypatch.setattr(limits, "MAX_SERIALIZED_BYTES", 1000)
    proxy.reset_counts()
    with pytest.raises(LimitError, match=r"ONNX model files are [\d,]+ bytes; imported models must be under"):
        engine.query(f"CREATE MODEL d.m OPTIONS(model_type = 'ONNX', model_path = '{path}')")
    assert media_gets(proxy, store, "/models/") == 0  # its size was asked, its bytes never
    assert engine.table_kind("d.m") is None


# -- the content cache --------------------------------------------------------------------------
@pytest.mark.parametrize("store", STORES)
def test_a_rerun_reads_no_object_twice_and_a_new_generation_is_fetched(
    servers, engine_on, fault_proxy, sample_set, store
):
    proxy = fault_proxy(servers[store])
    engine = engine_on(store, proxy.endpoint)
    photos_table(engine, store)
    first = engine.query(IMAGES)
    assert media_gets(proxy, store) == 5
    proxy.reset_counts()
    again = engine.query(IMAGES)
    assert media_gets(proxy, store) == 0  # the listing is re-read (no max_staleness), no object is
    pd.testing.assert_frame_equal(first, again)

    photos = sample_set.bucket / "photos"
    upload = storage_servers.upload_gcs_bytes if store == "gs" else storage_servers.upload_s3_bytes
    upload(servers[store].endpoint, BUCKET, "photos/china.jpg", (photos / "rocket.jpg").read_bytes())
    try:
        proxy.reset_counts()
        changed = engine.query(IMAGES).set_index("uri").img
        assert media_gets(proxy, store) == 1  # only the rewritten object
        prefix = f"{store}://{BUCKET}/photos/"
        np.testing.assert_array_equal(changed[prefix + "china.jpg"]["values"], changed[prefix + "rocket.jpg"]["values"])
    finally:
        upload(servers[store].endpoint, BUCKET, "photos/china.jpg", (photos / "china.jpg").read_bytes())


@pytest.mark.parametrize("store", STORES)
def test_without_the_cache_every_run_reads_again(servers, engine_on, fault_proxy, store):
    proxy = fault_proxy(servers[store])
    engine = engine_on(store, proxy.endpoint, cache_size=0)
    photos_table(engine, store)
    engine.query(IMAGES)
    engine.query(IMAGES)
    assert media_gets(proxy, store) == 10


def test_objects_are_fetched_ahead_within_the_read_share(servers, s3_proxy: FaultProxy, tmp_path):
    stores = RemoteStores(options("s3", s3_proxy.endpoint))
    objects = ObjectStore(BucketMap(), stores, None, read_ahead_bytes=1_000_000)
    [batch] = objects.list([f"s3://{BUCKET}/photos/*"])
    listed = batch.to_pylist()
    refs = [ObjectRef(r["uri"], r["generation"], r["size"]) for r in listed]
    objects.prefetch(refs)
    fits = 0
    while fits < len(refs) and sum(r.size for r in refs[: fits + 1]) <= 1_000_000:
        fits += 1
    assert 0 < fits < len(refs)
    for ref in refs:  # each read once: the prefetched ones waiting, the others fetched on demand
        assert len(objects.read(ref)) == ref.size
    assert media_gets(s3_proxy, "s3") == len(refs)
    objects.forget_prefetched()


# -- failures -----------------------------------------------------------------------------------
@pytest.mark.parametrize("store", STORES)
def test_a_missing_bucket_is_named(servers, engine_on, store):
    engine = engine_on(store, servers[store].endpoint)
    engine.query("CREATE SCHEMA d")
    with pytest.raises(StorageError, match=rf"{store}://no-such-bucket/\*.* does not exist"):
        engine.query(
            f"CREATE EXTERNAL TABLE d.t OPTIONS(object_metadata = 'SIMPLE', uris = ['{store}://no-such-bucket/*'])"
        )
    assert engine.table_kind("d.t") is None


@pytest.mark.parametrize("store", STORES)
def test_access_denied_says_which_credentials_were_used(servers, engine_on, fault_proxy, store):
    proxy = fault_proxy(servers[store])
    engine = engine_on(store, proxy.endpoint)
    photos_table(engine, store)
    proxy.fail_matching("china.jpg", 403)
    credentials = "token" if store == "gs" else "key, secret"
    with pytest.raises(
        StorageError,
        match=rf"{store}://{BUCKET}/photos/china\.jpg: access denied \(HTTP 403\)\. The credentials used "
        rf"\({credentials} from storage_options\['{store}'\]\)",
    ):
        engine.query(IMAGES)


def test_missing_s3_credentials_say_what_was_tried(servers, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    engine = Engine(storage_options={"s3": {"endpoint_url": servers["s3"].endpoint}}, cache_dir=tmp_path)
    engine.query("CREATE SCHEMA d")
    with pytest.raises(StorageError, match=r"no valid credentials .*Tried the AWS default credential chain"):
        photos_table(engine, "s3")
    engine.close()


def test_an_unreachable_store_is_named_with_its_endpoint(engine_on):
    port = storage_servers.free_port()  # nothing listens there
    engine = engine_on("s3", f"http://127.0.0.1:{port}", {"config_kwargs": {"retries": {"max_attempts": 1}}})
    engine.query("CREATE SCHEMA d")
    with pytest.raises(StorageError, match=rf"cannot reach the store at http://127\.0\.0\.1:{port}"):
        photos_table(engine, "s3")


def test_a_protocol_without_its_package_says_what_to_install(tmp_path):
    engine = Engine(storage_options={"az": {"account_name": "x"}}, cache_dir=tmp_path)
    engine.query("CREATE SCHEMA d")
    with pytest.raises(StorageError, match=r"az:// needs the package adlfs: pip install adlfs"):
        engine.query("CREATE EXTERNAL TABLE d.t OPTIONS(object_metadata = 'SIMPLE', uris = ['az://c/*'])")
    engine.close()


# -- the tutorials ------------------------------------------------------------------------------
TUTORIAL_BUCKET = "bqml-tutorials"
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def tutorial_cells(notebook: Path) -> list[tuple[str, bool]]:
    """Each ``%%bqml`` cell's SQL, and whether it takes ``--params $labels``."""
    cells = []
    for cell in json.loads(notebook.read_text())["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and source.startswith("%%bqml"):
            first, _, sql = source.partition("\n")
            cells.append((sql, "--params" in first))
    return cells


def plain(value: Any) -> Any:
    """A cell as nested Python lists and dicts, for exact comparison."""
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def rows(frame: pd.DataFrame) -> list[str]:
    """Every row, exactly, in an order of its own: SQL leaves the order of ties (equal distances) open."""
    return sorted(repr(row) for row in frame.map(plain).itertuples(index=False))


@pytest.mark.integration
@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_the_tutorials_sql_on_a_store_matches_the_local_folder(servers, engine_on, sample_set, store, notebook):
    server = servers[store]
    if store == "gs":
        storage_servers.create_gcs_bucket(server.endpoint, TUTORIAL_BUCKET)
        fill = storage_servers.upload_gcs_folder
    else:
        storage_servers.create_s3_bucket(server.endpoint, TUTORIAL_BUCKET)
        fill = storage_servers.upload_s3_folder
    fill(server.endpoint, TUTORIAL_BUCKET, sample_set.bucket / "photos", "photos")
    fill(server.endpoint, TUTORIAL_BUCKET, sample_set.root / "models", "models")
    remote = engine_on(store, server.endpoint)
    local = Engine(buckets={"my_bucket": sample_set.bucket, "my_models": sample_set.root / "models"})
    here = f"{store}://{TUTORIAL_BUCKET}/"
    labels = {"labels": sample_set.labels}
    for sql, takes_labels in tutorial_cells(notebook):
        params = labels if takes_labels else None
        on_store = sql.replace("gs://my_bucket/", here).replace("gs://my_models/", here + "models/")
        ours, theirs = remote.query(on_store, params), local.query(sql, params)
        ours = ours.map(lambda v: v.replace(here, "gs://my_bucket/") if isinstance(v, str) else v)
        assert list(ours.columns) == list(theirs.columns), sql
        assert rows(ours) == rows(theirs), sql
    local.close()
