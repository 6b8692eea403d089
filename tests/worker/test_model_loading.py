"""Loading: a broken checkpoint directory fails with the missing file and the fix."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from worker.engine import GuardEngine
from worker.errors import DeviceError, ModelLoadError
from worker.loading import check_model_dir
from worker.placement import choose_placement


@pytest.fixture
def checkpoint(tiny_dir, tmp_path):
    """A writable copy of a complete checkpoint, to break file by file."""
    return shutil.copytree(tiny_dir, tmp_path / "ckpt")


def test_complete_checkpoint_passes_the_check(checkpoint):
    check_model_dir(checkpoint)


def test_missing_directory_is_named_with_the_fix(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ModelLoadError) as raised:
        GuardEngine.load(str(missing), device="cpu")
    message = str(raised.value)
    assert str(missing) in message and "does not exist" in message and "GUARDQ_MODEL" in message


@pytest.mark.parametrize(
    "removed, named",
    [
        ("config.json", "config.json"),
        ("model.safetensors", "model.safetensors"),
        ("tokenizer.json", "tokenizer.json"),
        ("tokenizer_config.json", "tokenizer_config.json"),
        ("chat_template.jinja", "chat_template.jinja"),
    ],
)
def test_missing_file_is_named(checkpoint, removed, named):
    (checkpoint / removed).unlink()
    with pytest.raises(ModelLoadError) as raised:
        GuardEngine.load(str(checkpoint), device="cpu")
    error = raised.value
    assert named in str(error) and str(checkpoint) in str(error)
    assert error.fix and "Fix:" in str(error)


def test_missing_weight_shard_is_named(checkpoint):
    (checkpoint / "model.safetensors").unlink()
    index = {"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors"}}
    (checkpoint / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ModelLoadError, match="model-00001-of-00002.safetensors"):
        check_model_dir(checkpoint)


def test_a_file_instead_of_a_directory_is_refused(checkpoint):
    with pytest.raises(ModelLoadError, match="not a directory"):
        GuardEngine.load(str(checkpoint / "config.json"), device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the fallback of a CPU-only host")
def test_auto_without_a_gpu_falls_back_to_the_cpu_with_a_warning(caplog):
    with caplog.at_level("WARNING"):
        placement = choose_placement("auto", "auto")
    assert placement.device.type == "cpu" and placement.dtype is torch.float32
    assert "CUDA is not available" in placement.note
    (record,) = [r for r in caplog.records if "CUDA is not available" in r.getMessage()]
    assert record.levelname == "WARNING"


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests a CPU-only host")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_a_gpu_fails_naming_the_devices_that_exist(device):
    with pytest.raises(DeviceError) as raised:
        choose_placement(device, "auto")
    assert raised.value.what == (
        f"device {device!r} does not exist: this machine has only cpu (CUDA is not available)"
    )
    assert "GUARDQ_DEVICE" in raised.value.fix


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_a_gpu_index_out_of_range_fails_naming_the_gpus_that_exist():
    count = torch.cuda.device_count()
    with pytest.raises(DeviceError) as raised:
        choose_placement(f"cuda:{count}", "auto")
    assert f"cuda:{count - 1}" in raised.value.what or count == 1
    assert "cuda:0" in raised.value.what
    assert choose_placement(f"cuda:{count - 1}", "auto").device == torch.device("cuda", count - 1)
    assert choose_placement("auto", "auto").device == torch.device("cuda", 0)


def test_cpu_defaults_to_float32_and_left_padding():
    placement = choose_placement("cpu", "auto")
    assert placement.dtype is torch.float32 and placement.padding_side == "left"
    assert choose_placement("cpu", "bfloat16").dtype is torch.bfloat16


def test_unknown_device_is_refused():
    with pytest.raises(DeviceError, match="tpu"):
        choose_placement("tpu", "auto")


def test_loaded_engine_follows_the_placement(tiny_engine):
    assert tiny_engine.placement.device.type == "cpu"
    assert next(tiny_engine.model.parameters()).dtype is torch.float32
    assert tiny_engine.tokenizer.padding_side == "left"
