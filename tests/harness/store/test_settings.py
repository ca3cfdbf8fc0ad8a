"""JobSettings: one record of a job's settings, whose JSON the job key hashes."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from benchmarks.store.jobs import job_key, settings_json
from benchmarks.store.settings import DEFAULT_SETTINGS, JobSettings, SettingsError

# The settings dict bench wrote before JobSettings existed (SweepOptions.settings() with
# every default), copied here so that a changed field name or JSON value (which would
# re-key every job and make resumes re-run finished work) fails this test.
LEGACY_DEFAULTS = {
    "epochs": 10,
    "batch_size": 16,
    "seed": 0,
    "image_size": None,
    "device": "cpu",
    "data": "shapes",
    "compile": False,
    "workers": 0,
    "limit": None,
    "lr": 2e-3,
    "val_every": 1,
    "patience": None,
    "normalize": "dataset",
    "augment": True,
    "threads": None,
}


def test_json_is_the_dict_bench_always_hashed() -> None:
    assert DEFAULT_SETTINGS.as_json() == LEGACY_DEFAULTS
    resized = JobSettings(image_size=(96, 80), lr="auto")
    assert resized.as_json() == {**LEGACY_DEFAULTS, "image_size": [96, 80], "lr": "auto"}
    # ... so a job planned now gets the key a job of the same spec and options always had.
    assert job_key("abc", resized.as_json(), "unet") == job_key(
        "abc", {**LEGACY_DEFAULTS, "image_size": [96, 80], "lr": "auto"}, "unet"
    )


def test_text_is_the_canonical_json_and_reads_back() -> None:
    settings = JobSettings(limit=8, patience=3, image_size=(32, 48), augment=False)
    assert settings.as_text() == settings_json(settings.as_json())
    assert JobSettings.from_text(settings.as_text()) == settings


def test_older_records_miss_keys_and_take_defaults() -> None:
    assert JobSettings.from_json({"epochs": 2, "image_size": 64}) == JobSettings(
        epochs=2, image_size=(64, 64)
    )


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"speed": 3}, r"^unknown job setting\(s\): speed$"),
        ([1, 2], "^job settings must be an object, got list$"),
    ],
)
def test_a_record_of_something_else_is_refused(record: object, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        JobSettings.from_json(record)  # type: ignore[arg-type]


def test_not_json_is_refused_in_one_line() -> None:
    with pytest.raises(SettingsError, match=r"^job settings are not JSON \(Expecting value\)$"):
        JobSettings.from_text("lr=0.1")


def test_differences_name_the_fields_in_order() -> None:
    a = JobSettings(lr=1e-3, limit=8, seed=1)
    assert a.differences(dataclasses.replace(a, lr=1e-2, data="voc:/d")) == ["data", "lr"]
    assert a.differences(a.with_seed(5)) == ["seed"]


def test_the_settings_module_does_not_import_torch() -> None:
    """The CLI builds its parsers from it, and ``graphspec check`` must stay light."""
    import subprocess

    probe = "import sys, benchmarks.store.settings; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr
