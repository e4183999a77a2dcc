"""Fast batched greedy generation: the evaluator every boosting round runs over the whole training set.

The paper names the full-train-set evaluation as the method's main cost, so this is built for throughput:
prompts are sorted by length so a batch pads little, padded on the left so new tokens line up, decoded with
the KV cache, and a batch stops as soon as every row has hit EOS or a stop string. Results come back in the
caller's order. Greedy decoding makes the outputs identical to one-at-a-time generation up to floating-point
differences from padding.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch

Prompt = str | list[dict[str, str]]


def render_prompt(tokenizer: Any, prompt: Prompt) -> str:
    """Text the model sees: chat messages through the tokenizer's chat template, plain text as is.

    A plain string is wrapped as one user message when the tokenizer has a chat template (instruction-tuned
    models answer far better inside their own template); chat messages without a template are joined as plain
    ``role: content`` lines so a base model still gets something readable.
    """
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if isinstance(prompt, str):
        if not has_template:
            return prompt
        prompt = [{"role": "user", "content": prompt}]
    if has_template:
        return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    lines = [f"{m['role']}: {m['content']}" for m in prompt]
    return "\n".join(lines) + "\nassistant:"


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` cut before the earliest stop string (the stop string itself is dropped)."""
    cut = len(text)
    for s in stop:
        if s:
            at = text.find(s)
            if at != -1:
                cut = min(cut, at)
    return text[:cut]


class _StopOnStrings:
    """Stopping criterion: True for rows whose decoded new tokens contain a stop string."""

    def __init__(self, tokenizer: Any, stop: Sequence[str], prompt_len: int) -> None:
        self.tokenizer = tokenizer
        self.stop = [s for s in stop if s]
        self.prompt_len = prompt_len
        # only the tail can hold a new stop string; a token decodes to at least one character in practice
        self.window = max((len(s) for s in self.stop), default=1) + 8

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        tails = self.tokenizer.batch_decode(input_ids[:, self.prompt_len :][:, -self.window :], skip_special_tokens=True)
        return torch.tensor([any(s in t for s in self.stop) for t in tails], device=input_ids.device)


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    *,
    max_new_tokens: int,
    batch_size: int = 32,
    stop: Sequence[str] = (),
    show_progress: bool = True,
    temperature: float | None = None,
    top_p: float = 1.0,
) -> list[str]:
    """Completions of ``prompts`` (in input order), cut at the first stop string: greedy, or sampled at
    ``temperature`` (with ``top_p``) when one is given.

    The tokenizer must pad on the left (``load_causal_lm`` sets that); a tokenizer without a pad token
    uses EOS for padding.
    """
    sampling = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    if temperature is not None:
        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0}
    from tqdm.auto import tqdm
    from transformers import StoppingCriteriaList

    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    padding_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    texts = [render_prompt(tokenizer, p) for p in prompts]
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]), reverse=True)
    device = next(model.parameters()).device
    results: list[str] = [""] * len(texts)
    bar = tqdm(total=len(texts), desc="generate", unit="ex", disable=not show_progress, leave=False)
    start, new_tokens = time.perf_counter(), 0
    try:
        for lo in range(0, len(order), batch_size):
            idx = order[lo : lo + batch_size]
            batch = tokenizer.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt").to(device)
            prompt_len = batch["input_ids"].shape[1]
            criteria = StoppingCriteriaList([_StopOnStrings(tokenizer, stop, prompt_len)]) if stop else None
            with torch.no_grad():  # not inference_mode: its tensors would poison autograd if anything cached them
                out = model.generate(
                    **batch,
                    max_new_tokens=max_new_tokens,
                    **sampling,
                    use_cache=True,
                    pad_token_id=tokenizer.pad_token_id,
                    stopping_criteria=criteria,
                )
            generated = out[:, prompt_len:]
            new_tokens += int((generated != tokenizer.pad_token_id).sum())
            for i, text in zip(idx, tokenizer.batch_decode(generated, skip_special_tokens=True)):
                results[i] = truncate_at_stop(text, stop)
            bar.update(len(idx))
            elapsed = time.perf_counter() - start
            bar.set_postfix(ex_s=f"{bar.n / elapsed:.1f}", tok_s=f"{new_tokens / elapsed:.0f}")
    finally:
        bar.close()
        tokenizer.padding_side = padding_side
    return results
