"""Federated, differentially private LoRA fine-tuning with QUBO client selection."""
