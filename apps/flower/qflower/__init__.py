"""QuantumFlow Flower app."""
