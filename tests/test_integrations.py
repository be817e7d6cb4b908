"""The trainer adapters: a Monitor driven by Lightning's and Hugging Face's trainers records at the expected steps,
writes its record at the end, says which extra to install when the framework is absent, and nothing in phenomena
imports the adapters."""

import ast
import importlib
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from phenomena.errors import UserError
from phenomena.monitor import Monitor, effective_rank, neural_collapse, sharpness
from phenomena.store import Store

SRC = Path(__file__).parents[1] / "src" / "phenomena"


def _toy(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g), torch.arange(n) % 2


def test_lightning_callback_records_at_the_expected_steps(tmp_path):
    pytest.importorskip("lightning", reason="the lightning extra is not installed")
    import lightning.pytorch as pl

    from phenomena.integrations.lightning import ProbeCallback

    class Net(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, 8), nn.Tanh())
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            return self.head(self.body(x))

        def training_step(self, batch, batch_idx):
            x, y = batch
            return F.cross_entropy(self(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    torch.manual_seed(0)
    net = Net()
    x, y = _toy()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)
    steps_seen = []

    def batch_size(model, batch, step):
        steps_seen.append(step)
        return float(len(batch[0]))

    monitor = Monitor(
        net,
        {"sharpness": sharpness(F.cross_entropy), "nc": neural_collapse(net.body, metrics=["nc1"]), "n": batch_size},
        every=2,
        store=tmp_path / "store",
    )
    callback = ProbeCallback(monitor)
    trainer = pl.Trainer(
        max_steps=6,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[callback],
    )
    trainer.fit(net, loader)
    assert steps_seen == [2, 4, 6] == monitor.steps  # global_step counts optimizer steps: 1..6
    assert monitor.curve("n") == ([2, 4, 6], [4.0, 4.0, 4.0])  # the training batch
    assert callback.run_id is not None
    assert set(Store(tmp_path / "store").metrics(callback.run_id)) == {"sharpness", "nc.nc1", "n"}

    fixed = Monitor(net, {"n": lambda m, b: float(len(b[0]))}, every=3)
    pl.Trainer(
        max_steps=6,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[ProbeCallback(fixed, batch=(x, y))],
    ).fit(net, loader)
    assert fixed.curve("n") == ([0, 3, 6], [16.0] * 3)  # a fixed batch also measures before training


def test_hf_callback_records_at_the_expected_steps(tmp_path):
    transformers = pytest.importorskip("transformers", reason="the hf extra is not installed")
    pytest.importorskip(
        "accelerate", reason="transformers.Trainer needs accelerate (pip install 'transformers[torch]')"
    )
    from phenomena.integrations.hf import ProbeCallback

    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_layer=1, n_head=2, n_embd=16, vocab_size=50, n_positions=16, bos_token_id=0, eos_token_id=0
    )
    model = transformers.GPT2LMHeadModel(config)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 50, (8, 12), generator=g)
    dataset = [{"input_ids": row, "labels": row} for row in ids]
    batch = {"input_ids": ids[:4], "labels": ids[:4]}

    def loss(m, b, **context):  # train mode: GPT-2's dropout draws from the global RNG, which is restored
        return float(m(**b).loss.detach())

    monitor = Monitor(
        model, {"loss": loss, "emb_rank": effective_rank(model.transformer.wte)}, every=2, store=tmp_path / "store"
    )
    callback = ProbeCallback(monitor, batch)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=4,
        per_device_train_batch_size=2,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
    )
    transformers.Trainer(model=model, args=args, train_dataset=dataset, callbacks=[callback]).train()
    assert monitor.steps == [0, 2, 4]
    assert monitor.names == ["loss", "emb_rank"]
    record = Store(tmp_path / "store").get(callback.run_id)
    assert record.status == "finished" and record.config["probes"] == ["loss", "emb_rank"]
    with pytest.raises(UserError, match="no batch"):
        ProbeCallback(Monitor(model, {"loss": loss}), None)


@pytest.mark.parametrize(
    "module, frameworks, extra",
    [
        ("phenomena.integrations.lightning", ["lightning", "lightning.pytorch", "pytorch_lightning"], "lightning"),
        ("phenomena.integrations.hf", ["transformers"], "hf"),
    ],
)
def test_a_missing_framework_names_its_extra(monkeypatch, module, frameworks, extra):
    for name in frameworks:
        monkeypatch.setitem(sys.modules, name, None)  # makes `import name` raise ImportError
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(UserError, match=rf"pip install 'phenomena\[{extra}\]'"):
        importlib.import_module(module)


def test_nothing_imports_the_integrations():
    found = []
    for path in SRC.rglob("*.py"):
        if "integrations" in path.relative_to(SRC).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found += [f"{path.name}: {n}" for n in names if n.startswith("phenomena.integrations")]
    assert not found, found
    for path in (SRC / "integrations").glob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        ours = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        ours = {m for m in ours if m.startswith("phenomena")}
        assert ours <= {"phenomena.monitor", "phenomena.api", "phenomena.errors"}, (path.name, ours)
