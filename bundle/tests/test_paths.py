import pytest

from rag_code_files import paths


def test_dbfs_path_maps_into_xtask_root(monkeypatch, tmp_path):
    monkeypatch.setenv("XTASK_DBFS_ROOT", str(tmp_path))
    assert paths.resolve("/dbfs/proj/test/tables/docs.db") == tmp_path / "proj/test/tables/docs.db"
    assert paths.resolve("dbfs:/proj/x") == tmp_path / "proj/x"


def test_dbfs_path_falls_back_to_bundle_dot_dbfs(monkeypatch):
    monkeypatch.delenv("XTASK_DBFS_ROOT", raising=False)
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    assert paths.resolve("/dbfs/proj/a") == paths.BUNDLE_ROOT / ".dbfs" / "proj/a"


def test_relative_paths_are_relative_to_bundle_root_and_absolute_kept(tmp_path):
    assert paths.resolve("data/documents") == paths.BUNDLE_ROOT / "data" / "documents"
    assert paths.resolve(str(tmp_path)) == tmp_path
    assert (paths.BUNDLE_ROOT / "databricks.yml").is_file()


def test_empty_path_is_an_error():
    with pytest.raises(ValueError):
        paths.resolve("")


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "f.json"
    paths.atomic_write_text(target, "one")
    paths.atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["f.json"]
