"""GraphSAGE over the job/cluster graph, with split-conformal intervals (extra ``gnn``).

Vertices: jobs and cluster nodes. Edges (both directions): job - node where it is placed
(placement), node - node in the same rack (shared power domain). Three SAGE layers let a job
see the other jobs of its rack (job -> node -> node -> job), which is where the generator's
shared-power-domain coupling lives. Two heads: per-GPU power of a job vertex and per-GPU power
of a node vertex (times its GPU count = node power). Trained full-batch with Adam, seeded.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from qenergy.errors import MissingExtra
from qenergy.predict import CATEGORICAL, NUMERIC, check_features

__all__ = ["GraphSAGEPower"]

SCALE_W = 700.0  # targets are divided by this (an H100 SXM board limit) for training


def _torch():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch_geometric's import-time FutureWarnings
            import torch
            import torch_geometric  # noqa: F401
            from torch_geometric.data import Batch, Data
            from torch_geometric.nn import SAGEConv
    except ImportError as exc:
        raise MissingExtra(
            f"GraphSAGEPower needs torch and torch-geometric: pip install 'qenergy[gnn]' ({exc})."
        ) from None
    return torch, Data, Batch, SAGEConv


class GraphSAGEPower:
    """Per-job and per-node power from snapshots ``(jobs, nodes)`` of :func:`generate_snapshots`."""

    name = "graphsage"

    def __init__(
        self, hidden: int = 64, epochs: int = 300, lr: float = 0.01, seed: int = 0, threads: int = 2
    ) -> None:
        self.hidden, self.epochs, self.lr, self.seed, self.threads = (
            hidden,
            epochs,
            lr,
            seed,
            threads,
        )
        self.net = None
        self.categories: dict[str, list[str]] = {}
        self.residuals: np.ndarray | None = None

    # ----------------------------------------------------------------- graph construction
    def _encode(self, jobs: pd.DataFrame) -> np.ndarray:
        cols = [np.log(jobs[c].to_numpy(float)) for c in NUMERIC]
        for c in CATEGORICAL:
            cols += [
                (jobs[c].astype(str).to_numpy() == v).astype(float) for v in self.categories[c]
            ]
        return np.stack(cols, axis=1)

    def _graphs(self, jobs: pd.DataFrame, nodes: pd.DataFrame) -> list:
        torch, Data, _, _ = _torch()
        check_features(jobs)
        for col in ("graph", "node"):
            if col not in jobs.columns or col not in nodes.columns:
                from qenergy.errors import MissingColumn

                raise MissingColumn(
                    f"{col}: missing; the graph model needs jobs and nodes with graph and node ids."
                )
        x_jobs = self._encode(jobs)
        width = x_jobs.shape[1] + 2 + len(self.categories["gpu_type"]) + 1
        graphs = []
        for gidx, jframe in jobs.groupby("graph", sort=True):
            ji = jframe.index.to_numpy()
            nframe = nodes[nodes["graph"] == gidx].reset_index(drop=True)
            nj, nn = len(ji), len(nframe)
            x = np.zeros((nj + nn, width))
            x[:nj, : x_jobs.shape[1]] = x_jobs[np.searchsorted(jobs.index.to_numpy(), ji)]
            x[:nj, x_jobs.shape[1]] = 1.0  # job vertex
            x[nj:, x_jobs.shape[1] + 1] = 1.0  # node vertex
            for t, v in enumerate(self.categories["gpu_type"]):
                x[nj:, x_jobs.shape[1] + 2 + t] = (
                    nframe["gpu_type"].astype(str).to_numpy() == v
                ).astype(float)
            x[nj:, -1] = nframe["busy_gpus"].to_numpy(float) / 8.0
            where = {int(n): nj + i for i, n in enumerate(nframe["node"])}
            src, dst = [], []
            for a, n in enumerate(jframe["node"].to_numpy(int)):
                src += [a, where[n]]
                dst += [where[n], a]
            for members in nframe.groupby("rack").indices.values():
                ids = [nj + int(i) for i in members]
                for a in ids:
                    for b in ids:
                        if a != b:
                            src.append(a)
                            dst.append(b)
            y = np.zeros(nj + nn)
            gpus = np.r_[jframe["gpus"].to_numpy(float), np.full(nn, 8.0)]
            if "power_w" in jframe.columns:
                y[:nj] = jframe["power_w"].to_numpy(float)
            if "power_w" in nframe.columns:
                y[nj:] = nframe["power_w"].to_numpy(float)
            graphs.append(
                Data(
                    x=torch.tensor(x, dtype=torch.float32),
                    edge_index=torch.tensor([src, dst], dtype=torch.long),
                    y=torch.tensor(y / gpus / SCALE_W, dtype=torch.float32),
                    is_job=torch.tensor(np.r_[np.ones(nj), np.zeros(nn)] > 0),
                    gpus=torch.tensor(gpus, dtype=torch.float32),
                )
            )
        return graphs

    def _net(self, width: int):
        torch, _, _, SAGEConv = _torch()

        class Net(torch.nn.Module):
            def __init__(self, hidden: int) -> None:
                super().__init__()
                self.convs = torch.nn.ModuleList(
                    [SAGEConv(width, hidden), SAGEConv(hidden, hidden), SAGEConv(hidden, hidden)]
                )
                self.job_head = torch.nn.Linear(hidden + width, 1)
                self.node_head = torch.nn.Linear(hidden + width, 1)

            def forward(self, x, edge_index, is_job):
                h = x
                for conv in self.convs:
                    h = torch.relu(conv(h, edge_index))
                h = torch.cat([h, x], dim=1)  # a skip connection keeps the job's own features
                return torch.where(
                    is_job, self.job_head(h).squeeze(-1), self.node_head(h).squeeze(-1)
                )

        return Net(self.hidden)

    # ----------------------------------------------------------------- training and prediction
    def fit(self, jobs: pd.DataFrame, nodes: pd.DataFrame) -> GraphSAGEPower:
        torch, _, Batch, _ = _torch()
        check_features(jobs, target=True)
        self.categories = {c: sorted(jobs[c].astype(str).unique()) for c in CATEGORICAL}
        torch.manual_seed(self.seed)
        torch.set_num_threads(self.threads)
        batch = Batch.from_data_list(self._graphs(jobs.reset_index(drop=True), nodes))
        self.net = self._net(batch.x.shape[1])
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.epochs)
        for _ in range(self.epochs):
            opt.zero_grad()
            pred = self.net(batch.x, batch.edge_index, batch.is_job)
            loss = torch.mean(torch.abs(pred - batch.y) / batch.y.clamp_min(1e-3))  # relative error
            loss.backward()
            opt.step()
            sched.step()
        return self

    def _predict(self, jobs: pd.DataFrame, nodes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        torch, _, Batch, _ = _torch()
        if self.net is None:
            from qenergy.errors import InvalidParameter

            raise InvalidParameter("fit: call fit(jobs, nodes) before predicting.")
        jobs = jobs.reset_index(drop=True)
        batch = Batch.from_data_list(self._graphs(jobs, nodes))
        with torch.no_grad():
            pred = (self.net(batch.x, batch.edge_index, batch.is_job) * SCALE_W).numpy()
        is_job = batch.is_job.numpy()
        # Batch keeps graphs in groupby order: jobs of graph 0, its nodes, graph 1, ...
        order = np.concatenate([g.index.to_numpy() for _, g in jobs.groupby("graph", sort=True)])
        per_gpu_jobs = np.empty(len(jobs))
        per_gpu_jobs[order] = pred[is_job]
        return per_gpu_jobs, pred[~is_job]

    def predict_per_gpu(self, jobs: pd.DataFrame, nodes: pd.DataFrame) -> np.ndarray:
        return self._predict(jobs, nodes)[0]

    def predict_nodes(self, jobs: pd.DataFrame, nodes: pd.DataFrame) -> np.ndarray:
        """Node power (W), in the order of ``nodes`` sorted by graph (as given per graph)."""
        return self._predict(jobs, nodes)[1] * 8.0

    def calibrate(self, jobs: pd.DataFrame, nodes: pd.DataFrame) -> GraphSAGEPower:
        y = jobs["power_w"].to_numpy(float) / jobs["gpus"].to_numpy(float)
        self.residuals = y - self.predict_per_gpu(jobs, nodes)
        return self

    def interval(self, jobs: pd.DataFrame, nodes: pd.DataFrame, alpha: float = 0.1):
        """(prediction, lower, upper) per job in W, split-conformal on per-GPU residuals."""
        import math

        if self.residuals is None:
            from qenergy.errors import InvalidParameter

            raise InvalidParameter(
                "calibrate: call calibrate(jobs, nodes) on held-out graphs first."
            )
        r = np.sort(np.abs(self.residuals))
        rank = math.ceil((len(r) + 1) * (1 - alpha))
        q = float(r[rank - 1]) if rank <= len(r) else float("inf")
        per_gpu = self.predict_per_gpu(jobs, nodes)
        g = jobs["gpus"].to_numpy(float)
        return per_gpu * g, np.maximum(per_gpu - q, 0) * g, (per_gpu + q) * g
