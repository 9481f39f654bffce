"""qcompress: Compress and restore tensors (weights, gradients, activations): fp16/bf16 casts, int8/int4/NF4/binary quantisation, importance-based mixed precision, error-feedback sparsification, PowerSGD low rank, byte-shuffle + zstd, in a versioned checksummed container."""

__version__ = "0.1.0"
