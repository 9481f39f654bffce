"""qnvlink: Map a job's communication onto a GPU fabric (DGX A100/H100, GB200 NVL72, multi-node InfiniBand, NCCL topology XML): rank placement by METIS, local search and QUBO, link scheduling by edge colouring, a flow-level simulator and exports."""

__version__ = "0.1.0"
