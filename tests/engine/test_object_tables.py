"""Object tables: BigQuery's columns, the data pseudocolumn, patterns, caching (docs/behaviour.md#object-tables)."""

from __future__ import annotations

import base64
import hashlib
import os

import pandas as pd
import pytest

from bqml_magic import BQMLError, Engine
from bqml_magic.errors import SQLError, StorageError

OBJECT_COLUMNS = ["uri", "generation", "content_type", "size", "md5_hash", "updated", "metadata", "ref"]


def test_columns_types_and_values(engine: Engine, photos):
    df = engine.query("SELECT * FROM my_dataset.object_table ORDER BY uri")
    assert list(df.columns) == OBJECT_COLUMNS  # no `data`: it is a pseudocolumn
    assert list(df.uri) == [
        "gs://my_bucket/notes.txt",
        "gs://my_bucket/photos/grace_hopper.jpg",
        "gs://my_bucket/photos/more/coffee.png",
    ]
    assert list(df.content_type) == ["text/plain", "image/jpeg", "image/png"]
    jpeg = photos / "photos" / "grace_hopper.jpg"
    row = df.iloc[1]
    assert row["size"] == jpeg.stat().st_size
    assert row["md5_hash"] == base64.b64encode(hashlib.md5(jpeg.read_bytes()).digest()).decode()
    assert row["generation"] == jpeg.stat().st_mtime_ns
    assert row["updated"] == pd.Timestamp(jpeg.stat().st_mtime_ns // 1000, unit="us", tz="UTC")
    assert list(row["metadata"]) == []
    assert row["ref"]["uri"] == row["uri"] and row["ref"]["authorizer"] == "us.my-connection"


def test_data_pseudocolumn_reads_bytes_where_used(engine: Engine, photos):
    df = engine.query("SELECT uri, data FROM my_dataset.object_table WHERE content_type = 'image/png'")
    assert df.data[0] == (photos / "photos" / "more" / "coffee.png").read_bytes()
    qualified = engine.query(
        "SELECT LENGTH(my_dataset.object_table.data) AS n FROM my_dataset.object_table WHERE uri LIKE '%notes%'"
    )
    assert qualified.n[0] == len("not an image")
    aliased = engine.query("SELECT LENGTH(o.DATA) AS n FROM my_dataset.object_table AS o WHERE o.uri LIKE '%notes%'")
    assert aliased.n[0] == len("not an image")


def test_listing_reads_no_content(engine: Engine, monkeypatch):
    from bqml_magic.storage import reader

    reads = []
    original = reader.opened
    monkeypatch.setattr(reader, "opened", lambda loc, *args: reads.append(loc.uri) or original(loc, *args))
    engine.query("SELECT uri, size, content_type, updated, ref FROM my_dataset.object_table")
    assert reads == []
    engine.query("SELECT md5_hash FROM my_dataset.object_table WHERE uri LIKE '%.png'")
    assert reads == ["gs://my_bucket/photos/more/coffee.png"]


@pytest.mark.parametrize(
    ("uris", "expected"),
    [
        (["gs://my_bucket/photos/*"], ["photos/grace_hopper.jpg", "photos/more/coffee.png"]),  # * matches /
        (["gs://my_bucket/*.png"], ["photos/more/coffee.png"]),
        (["gs://my_bucket/photos/g*.jpg"], ["photos/grace_hopper.jpg"]),
        (["gs://my_bucket/notes.txt"], ["notes.txt"]),
        (["gs://my_bucket/notes.txt", "gs://my_bucket/*.txt"], ["notes.txt"]),  # each object once
        (["gs://my_bucket/nothing/*"], []),  # GCS has no folders: an unused prefix is empty
    ],
)
def test_uri_patterns(engine: Engine, uris, expected):
    engine.query(f"CREATE OR REPLACE EXTERNAL TABLE my_dataset.t OPTIONS(object_metadata = 'SIMPLE', uris = {uris!r})")
    got = engine.query("SELECT uri FROM my_dataset.t ORDER BY uri").uri.tolist()
    assert got == ["gs://my_bucket/" + e for e in expected]


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ("uris = ['gs://my_bucket/*/*']", SQLError, "only one '*'"),
        ("uris = ['gs://my_*/x']", SQLError, "bucket name"),
        ("uris = []", SQLError, "non-empty"),
        ("uris = ['az://other_bucket/*']", StorageError, "not read here"),
        ("uris = ['/no/such/folder/*']", StorageError, "outside the allowed local roots"),
        ("uris = ['gs://my_bucket/../etc/*']", StorageError, "leaves its bucket"),
        ("uris = ['gs://my_bucket/*'], max_staleness = INTERVAL 1 HOUR", SQLError, "metadata_cache_mode"),
        (
            "uris = ['gs://my_bucket/*'], max_staleness = INTERVAL 10 MINUTE, metadata_cache_mode = 'AUTOMATIC'",
            SQLError,
            "30 minutes",
        ),
        ("uris = ['gs://my_bucket/*'], colour = 'red'", SQLError, "Unknown option"),
    ],
)
def test_bad_definitions_create_nothing(engine: Engine, options, error, text):
    with pytest.raises(error, match=text.replace("*", r"\*").replace("(", r"\(")):
        engine.query(f"CREATE EXTERNAL TABLE my_dataset.bad OPTIONS(object_metadata = 'SIMPLE', {options})")
    assert engine.table_kind("my_dataset.bad") is None


def test_object_metadata_is_required(engine: Engine):
    with pytest.raises(SQLError, match="object_metadata"):
        engine.query("CREATE EXTERNAL TABLE my_dataset.bad OPTIONS(uris = ['gs://my_bucket/*'])")


def test_failed_replace_keeps_the_old_table(engine: Engine):
    before = engine.query("SELECT uri FROM my_dataset.object_table ORDER BY uri")
    with pytest.raises(StorageError):
        engine.query(
            "CREATE OR REPLACE EXTERNAL TABLE my_dataset.object_table "
            "OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://my_bucket/*', 'az://unmapped/*'])"
        )
    after = engine.query("SELECT uri FROM my_dataset.object_table ORDER BY uri")
    pd.testing.assert_frame_equal(before, after)


def test_new_files_are_seen_without_caching(engine: Engine, photos):
    (photos / "new.bmp").write_bytes(b"BM")
    got = engine.query("SELECT content_type FROM my_dataset.object_table WHERE uri LIKE '%new.bmp'")
    assert got.content_type.tolist() == ["image/bmp"]


def test_manual_cache_refreshes_on_request(engine: Engine, photos):
    engine.query(
        "CREATE EXTERNAL TABLE my_dataset.cached OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://my_bucket/*'], "
        "max_staleness = INTERVAL 1 HOUR, metadata_cache_mode = 'MANUAL')"
    )
    (photos / "late.jpg").write_bytes(b"x")
    count = "SELECT COUNT(*) AS n FROM my_dataset.cached"
    assert engine.query(count).n[0] == 3
    engine.query("CALL BQ.REFRESH_EXTERNAL_METADATA_CACHE('my_dataset.cached')")
    assert engine.query(count).n[0] == 4


def test_symlinks_out_of_the_bucket_are_not_listed_or_read(engine: Engine, photos, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    os.symlink(secret, photos / "link.txt")
    with pytest.warns(UserWarning, match="gs://my_bucket/link.txt is a symlink that resolves outside"):
        assert "gs://my_bucket/link.txt" not in engine.query("SELECT uri FROM my_dataset.object_table").uri.tolist()
    with pytest.raises(StorageError, match="outside bucket folder"):
        engine.query(
            "CREATE EXTERNAL TABLE my_dataset.one OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://my_bucket/link.txt'])"
        )


def test_local_paths_and_file_uris(photos, tmp_path):
    eng = Engine(local_roots=[photos])
    eng.query(
        f"""CREATE SCHEMA d;
        CREATE EXTERNAL TABLE d.local OPTIONS(object_metadata = 'SIMPLE', uris = ['{photos}/photos/*']);
        CREATE EXTERNAL TABLE d.files OPTIONS(object_metadata = 'SIMPLE', uris = ['file://{photos}/*.txt'])"""
    )
    assert eng.query("SELECT uri FROM d.local ORDER BY uri").uri.tolist() == [
        f"{photos}/photos/grace_hopper.jpg",
        f"{photos}/photos/more/coffee.png",
    ]
    assert eng.query("SELECT uri, LENGTH(data) AS n FROM d.files").to_dict("records") == [
        {"uri": f"file://{photos}/notes.txt", "n": 12}
    ]


@pytest.mark.parametrize("prefix", ["gs://my_bucket/odd/", "file://{root}/odd/", "{root}/odd/"])
def test_object_names_are_taken_as_written(photos, prefix):
    """'#', '?', '%' and spaces are characters of file names, in gs:// and file:// URIs alike."""
    names = ["photo #1.png", "what?.png", "100%.png", "a%41.png", "my photo.png", "café.png"]
    (photos / "odd").mkdir()
    for name in names:
        (photos / "odd" / name).write_bytes(name.encode())
    eng = Engine(buckets={"my_bucket": photos}, local_roots=[photos])
    uris = prefix.format(root=photos) + "*"
    eng.query(f"CREATE SCHEMA d; CREATE EXTERNAL TABLE d.odd OPTIONS(object_metadata = 'SIMPLE', uris = ['{uris}'])")
    rows = eng.query("SELECT uri, data, md5_hash FROM d.odd ORDER BY uri")
    assert [u.rsplit("/", 1)[1] for u in rows.uri] == sorted(names)
    assert [d.decode() for d in rows.data] == sorted(names) and rows.md5_hash.notna().all()


def test_file_uris_of_other_hosts_are_refused(engine: Engine):
    with pytest.raises(StorageError, match="names the host 'server'"):
        engine.query(
            "CREATE EXTERNAL TABLE my_dataset.far OPTIONS(object_metadata = 'SIMPLE', uris = ['file://server/share/*'])"
        )


def test_object_tables_are_read_only(engine: Engine):
    with pytest.raises(BQMLError, match="read-only"):
        engine.query("INSERT INTO my_dataset.object_table (uri) VALUES ('x')")
