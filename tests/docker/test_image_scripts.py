"""The scripts that shape the images (docker/), run on small real inputs without Docker.

``make image-test`` drives them inside a real image build; these tests pin down their rules:
what botocore data loses and keeps, that rewritten RECORDs match the files, that the name
registration has no files, and which bytecode survives.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import importlib.util
import io
import json
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import PackageNotFoundError, PathDistribution, version
from pathlib import Path

import pytest

DOCKER = Path(__file__).resolve().parents[2] / "docker"
sys.path.insert(0, str(DOCKER / "common"))  # as when a script runs from that folder (wheel_record)


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


slim_botocore_data = _load(DOCKER / "common" / "slim_botocore_data.py")
register_reference_name = _load(DOCKER / "common" / "register_reference_name.py")
hot_bytecode = _load(DOCKER / "common" / "hot_bytecode.py")
strip_wheels = _load(DOCKER / "common" / "strip_wheels.py")


def _sha(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _record_matches_files(root: Path, record_text: str, skip: str) -> None:
    for name, digest, size in csv.reader(io.StringIO(record_text)):
        if name == skip:
            assert digest == "" and size == ""
            continue
        data = (root / name).read_bytes()
        assert (digest, size) == (_sha(data), str(len(data))), name


# --- botocore data ---------------------------------------------------------------------------

MODEL = {
    "version": "2.0",
    "documentation": "<p>The service.</p>",
    "metadata": {"apiVersion": "2020-01-01", "protocol": "json", "serviceId": "Probe"},
    "clientContextParams": {"Accelerate": {"type": "boolean", "documentation": "kept: indexed directly"}},
    "operations": {
        "GetThing": {
            "name": "GetThing",
            "http": {"method": "POST", "requestUri": "/"},
            "input": {"shape": "GetThingRequest"},
            "documentation": "<p>Gets a thing.</p>",
            "documentationUrl": "https://example.invalid/doc",
        }
    },
    "shapes": {
        "GetThingRequest": {
            "type": "structure",
            "members": {
                "Name": {"shape": "String", "documentation": "<p>Its name.</p>"},
                "documentation": {"shape": "String"},
            },
            "documentation": "<p>A request.</p>",
        },
        "String": {"type": "string"},
    },
}


@pytest.fixture
def botocore_site(tmp_path: Path) -> Path:
    """A site-packages with a miniature botocore: one service model, one plain JSON file."""
    data = tmp_path / "botocore" / "data"
    (data / "probe" / "2020-01-01").mkdir(parents=True)
    files = {
        "botocore/data/probe/2020-01-01/service-2.json.gz": gzip.compress(json.dumps(MODEL).encode()),
        "botocore/data/probe/2020-01-01/paginators-1.json": json.dumps({"pagination": {}}).encode(),
        "botocore/__init__.py": b"",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    record = "".join(f"{name},{_sha(content)},{len(content)}\n" for name, content in files.items())
    (tmp_path / "botocore-1.0.dist-info").mkdir()
    (tmp_path / "botocore-1.0.dist-info" / "RECORD").write_text(record + "botocore-1.0.dist-info/RECORD,,\n")
    return tmp_path


def test_botocore_models_lose_prose_but_keep_everything_botocore_indexes(botocore_site: Path) -> None:
    record = botocore_site / "botocore-1.0.dist-info" / "RECORD"
    files, before, after = slim_botocore_data.slim(botocore_site, record)
    assert files == 2 and after < before
    model_path = botocore_site / "botocore/data/probe/2020-01-01/service-2.json.gz"
    model = json.loads(gzip.decompress(model_path.read_bytes()))
    assert "documentation" not in model
    assert "documentation" not in model["operations"]["GetThing"]
    assert "documentationUrl" not in model["operations"]["GetThing"]
    assert "documentation" not in model["shapes"]["GetThingRequest"]
    members = model["shapes"]["GetThingRequest"]["members"]
    assert "documentation" not in members["Name"]
    assert members["documentation"] == {"shape": "String"}  # a member that is named so stays
    assert model["clientContextParams"]["Accelerate"]["documentation"] == "kept: indexed directly"
    assert model["operations"]["GetThing"]["http"] == {"method": "POST", "requestUri": "/"}


def test_botocore_plain_json_becomes_gzip_and_record_matches(botocore_site: Path) -> None:
    record = botocore_site / "botocore-1.0.dist-info" / "RECORD"
    slim_botocore_data.slim(botocore_site, record)
    plain = botocore_site / "botocore/data/probe/2020-01-01/paginators-1.json"
    assert not plain.exists()
    assert json.loads(gzip.decompress(plain.with_name(plain.name + ".gz").read_bytes())) == {"pagination": {}}
    text = record.read_text()
    assert "paginators-1.json," not in text and "paginators-1.json.gz," in text
    _record_matches_files(botocore_site, text, skip="botocore-1.0.dist-info/RECORD")


def test_real_botocore_loads_and_uses_a_slimmed_model(botocore_site: Path) -> None:
    botocore_loaders = pytest.importorskip("botocore.loaders")
    from botocore.model import ServiceModel

    slim_botocore_data.slim(botocore_site, botocore_site / "botocore-1.0.dist-info" / "RECORD")
    loader = botocore_loaders.Loader(extra_search_paths=[str(botocore_site / "botocore" / "data")])
    service = ServiceModel(loader.load_service_model("probe", "service-2"), "probe")
    operation = service.operation_model("GetThing")
    assert operation.documentation == "" and service.documentation == ""
    assert list(operation.input_shape.members) == ["Name", "documentation"]
    assert [param.name for param in service.client_context_parameters] == ["Accelerate"]
    assert loader.load_service_model("probe", "paginators-1") == {"pagination": {}}


# --- the registered reference name ------------------------------------------------------------


def test_reference_name_registration_has_no_files_of_its_own(tmp_path: Path) -> None:
    dist_info = register_reference_name.register(tmp_path)
    dist = PathDistribution(dist_info)
    assert dist.metadata["Name"] == "insightconnect-plugin-runtime"
    assert dist.version == register_reference_name.REFERENCE_VERSION == "6.6.1"
    assert sorted(str(f) for f in dist.files) == sorted(
        f"{dist_info.name}/{name}" for name in ("METADATA", "INSTALLER", "RECORD")
    )
    _record_matches_files(tmp_path, (dist_info / "RECORD").read_text(), skip=f"{dist_info.name}/RECORD")
    assert dist.requires and dist.requires[0].startswith("icon-runtime-core==")


def test_komand_name_is_registered_as_provided_by_icon_runtime_komand(tmp_path: Path) -> None:
    dist_info = register_reference_name.register_komand(tmp_path)
    assert dist_info is not None
    dist = PathDistribution(dist_info)
    assert dist.metadata["Name"] == "komand"
    assert dist.version == register_reference_name.KOMAND_VERSION
    assert sorted(str(f) for f in dist.files) == sorted(
        f"{dist_info.name}/{name}" for name in ("METADATA", "INSTALLER", "RECORD")
    )
    _record_matches_files(tmp_path, (dist_info / "RECORD").read_text(), skip=f"{dist_info.name}/RECORD")
    assert dist.requires == [f"icon-runtime-komand=={version('icon-runtime-komand')}"]


def test_an_installed_komand_distribution_is_left_alone(tmp_path: Path) -> None:
    real = tmp_path / "komand-1.0.1.dist-info"
    real.mkdir()
    (real / "METADATA").write_text("Metadata-Version: 2.1\nName: komand\nVersion: 1.0.1\n")
    assert register_reference_name.register_komand(tmp_path) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["komand-1.0.1.dist-info"]
    assert (real / "METADATA").read_text().endswith("Version: 1.0.1\n")


def test_komand_is_not_registered_without_icon_runtime_komand(tmp_path: Path, monkeypatch) -> None:
    def absent(name: str) -> str:
        raise PackageNotFoundError(name)

    monkeypatch.setattr(register_reference_name, "version", absent)
    assert register_reference_name.register_komand(tmp_path) is None
    assert list(tmp_path.iterdir()) == []


# --- bytecode ---------------------------------------------------------------------------------


def test_only_hot_sources_keep_bytecode(tmp_path: Path) -> None:
    hot, cold = tmp_path / "hot.py", tmp_path / "pkg" / "cold.py"
    cold.parent.mkdir()
    hot.write_text("X = 1\n")
    cold.write_text("Y = 2\n")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.py"
    outside.write_text("Z = 3\n")
    for source in (hot, cold, outside):
        subprocess.run([sys.executable, "-m", "py_compile", str(source)], check=True)
    compiled, removed = hot_bytecode.prune_and_compile([tmp_path], {hot, outside})
    assert (compiled, removed) == (1, 2)
    assert Path(importlib.util.cache_from_source(str(hot))).is_file()
    assert not Path(importlib.util.cache_from_source(str(cold))).exists()
    assert not (cold.parent / "__pycache__").exists()  # emptied cache folders go too
    outside_cache = Path(importlib.util.cache_from_source(str(outside)))
    assert outside_cache.is_file()  # outside the roots: neither removed nor rewritten
    outside.unlink()
    outside_cache.unlink()


# --- stripped wheels --------------------------------------------------------------------------


@pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("strip")), reason="needs gcc and strip")
def test_stripped_wheel_is_smaller_and_its_record_matches(tmp_path: Path) -> None:
    source = tmp_path / "probe.c"
    source.write_text("int probe_answer(void) { return 42; }\n")
    library = tmp_path / "probe.so"
    subprocess.run(["gcc", "-g", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    members = {
        "probe/__init__.py": b"",
        "probe/_probe.so": library.read_bytes(),
        "probe-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: probe\nVersion: 1.0\n",
    }
    record = "".join(f"{n},{_sha(c)},{len(c)}\n" for n, c in members.items()) + "probe-1.0.dist-info/RECORD,,\n"
    wheel = tmp_path / "probe-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
        archive.writestr("probe-1.0.dist-info/RECORD", record)
    before, after = strip_wheels.strip_wheel(wheel, shutil.which("strip"))
    assert before == len(members["probe/_probe.so"]) and after < before
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "unpacked")
        new_record = archive.read("probe-1.0.dist-info/RECORD").decode()
    _record_matches_files(tmp_path / "unpacked", new_record, skip="probe-1.0.dist-info/RECORD")
    symbols = subprocess.run(
        ["nm", "-D", str(tmp_path / "unpacked" / "probe" / "_probe.so")], capture_output=True, text=True
    )
    assert "probe_answer" in symbols.stdout  # the exported symbol survives stripping
