"""The codecs, by the method name a container records."""

from __future__ import annotations

from qcompress.codecs.base import Codec, Encoded
from qcompress.codecs.binary import Binary
from qcompress.codecs.casts import BF16, FP16
from qcompress.codecs.ecsq import ECSQ
from qcompress.codecs.errorbound import SZ3, ZFP
from qcompress.codecs.intquant import Int4, Int8
from qcompress.codecs.lossless import Raw, ShuffleZstd, Zstd
from qcompress.codecs.lowrank import LowRank
from qcompress.codecs.mixed import Mixed
from qcompress.codecs.nf4 import NF4
from qcompress.codecs.sparse import Threshold, TopK

__all__ = ["CODECS", "Codec", "Encoded"]

CODECS: dict[str, Codec] = {
    codec.name: codec
    for codec in (
        Raw(),
        Zstd(),
        ShuffleZstd(),
        FP16(),
        BF16(),
        Int8(),
        Int4(),
        NF4(),
        Binary(),
        ECSQ(),
        Mixed(),
        TopK(),
        Threshold(),
        LowRank(),
        ZFP(),
        SZ3(),
    )
}
