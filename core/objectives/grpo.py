"""GRPO rounds for generative tasks, through TRL's ``GRPOTrainer``; the reward is the task's verifier.

Three things differ from a stock TRL run, each because of how boosting uses it:

* TRL gets the loop's peft model as-is (no ``peft_config``: the round's adapter is already attached and must
  not be wrapped again) and our own optimizer over exactly ``ctx.trainable``, so nothing else can move.
* The learning rate. TRL's default (1e-6) is tuned for billions of parameters; a round here trains tens to a
  few thousand scalars, each of which scales a whole singular direction. On SmolLM2-135M, two-digit arithmetic,
  1e-3 constant (after a short warm-up) moved held-out accuracy within ten steps without collapsing; 1e-4 barely
  moved it and 1e-2 broke answers. ``lr_decay`` shrinks it per round (``lr * lr_decay**round``), one reading
  of the paper's "adaptive learning-rate schedule".
* Dynamic sampling (DAPO). A failure set is, by construction, mostly prompts the model gets wrong, and a group
  whose samples all score 0 has zero advantage and gives no gradient, yet dilutes the loss. With
  ``drop_zero_variance`` such groups are removed from the batch before the loss, so every step's gradient
  comes from prompts with some signal; ``num_generations`` (more samples per failure) raises how many there are,
  and ``screen_samples`` (``screening.py``) picks, before the round, the failures the model sometimes solves.

The trainer is also wrapped for timing only (``grpo_timing``): the round's ``TrainResult.seconds_by_phase`` says how
much of it went to rollouts, the reward, the loss and backward, and the optimizer.

TRL writes nothing into the working directory: its output directory is a temporary one, reporting is off and
no checkpoint is saved.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch

from boostlora.contract.checks import check_prompt, check_reward
from boostlora.contract.objective import (
    Objective,
    RoundContext,
    TrainResult,
    require_capability,
)
from boostlora.contract.options import Options, option
from boostlora.contract.task import GenerativeTask, Task
from boostlora.foundation import distributed
from boostlora.foundation.errors import ConfigError
from boostlora.lm.generation import render_prompt
from boostlora.objectives.grpo_timing import RoundClock, step_callback, timed_trainer
from boostlora.objectives.logprob_tiles import cpu_logprob_tiles
from boostlora.objectives.schedule import warmup_schedule
from boostlora.objectives.screening import screen_examples


def completion_text(completion: Any) -> str:
    """TRL hands reward functions a string (plain prompts) or a list of chat messages (conversational ones)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    return str(completion)


def trl_prompt(tokenizer: Any, prompt: str | list[dict[str, str]]) -> str | list[dict[str, str]]:
    """The prompt in the form TRL should get so it sees exactly what evaluation sees.

    With a chat template TRL applies it to messages itself; without one we pass the same plain text that
    ``boostlora.generation`` renders.
    """
    if getattr(tokenizer, "chat_template", None):
        return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    return render_prompt(tokenizer, prompt)


#: What the GRPO bar's short field means, printed once per process above the first bar that shows it.
ZERO_STD_LEGEND = "zero_std = share of GRPO groups whose rewards all agree (no learning signal)"
_legend_shown: list[bool] = []


def _progress_callback(base: type, desc: str, total: int, enabled: bool) -> Any:
    """One tqdm bar with the running reward, instead of Trainer's dict-per-step printing. It takes tqdm's next free
    line, which is beneath the run's rounds bar on a terminal (position 1; a fixed position would print cursor
    moves into a log file), and disappears when the round's training ends."""
    from tqdm.auto import tqdm

    class RewardBar(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            if enabled and not _legend_shown:
                _legend_shown.append(True)
                tqdm.write(ZERO_STD_LEGEND, file=sys.stderr)
            self.bar = tqdm(total=total, desc=desc, leave=False, disable=not enabled)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if logs and "reward" in logs:
                self.bar.set_postfix(reward=f"{float(logs['reward']):.3f}", zero_std=f"{float(logs.get('frac_reward_zero_std', 0)):.2f}")

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.bar.update(1)

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.bar.close()

    return RewardBar()


def _dynamic_sampling_trainer(base: type) -> type:
    """A GRPOTrainer subclass that drops zero-reward-variance groups from each generation batch."""

    class DynamicSamplingGRPOTrainer(base):  # type: ignore[misc, valid-type]
        kept_fractions: list[float]

        def _generate_and_score_completions(self, inputs: Any) -> dict[str, Any]:
            out = super()._generate_and_score_completions(inputs)
            advantages = out["advantages"]
            rows = advantages.shape[0]
            groups = advantages.view(-1, self.num_generations)
            keep_group = groups.abs().amax(dim=1) > 0
            self.kept_fractions.append(keep_group.float().mean().item())
            # nothing to drop, or nothing left (this process's share then adds zero gradient): keep the rows
            if keep_group.any() and not keep_group.all():
                keep = keep_group.repeat_interleave(self.num_generations)
                if self.accelerator.num_processes == 1:
                    for key, value in list(out.items()):
                        if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == rows:
                            out[key] = value[keep]
                else:
                    # TRL gathers per-row tensors across processes, which needs equal row counts on every rank:
                    # mask the dropped completions out of the loss and its token count instead of removing them
                    for key in ("completion_mask", "tool_mask"):
                        if key in out:
                            out[key] = out[key] * keep.unsqueeze(1).to(out[key].dtype)
            # TRL normalises the loss by the tokens of the whole generation batch, summed over processes. Every
            # process gathers every step, whatever it dropped: a collective skipped by one rank deadlocks the rest.
            mask = out["completion_mask"] if "tool_mask" not in out else out["completion_mask"] * out["tool_mask"]
            out["num_items_in_batch"] = self.accelerator.gather(mask.sum()).sum()
            return out

    return DynamicSamplingGRPOTrainer


@dataclass
class GRPOOptions(Options):
    """Options of the ``grpo`` objective (TRL's GRPOTrainer, one fresh trainer per round)."""

    lr: float = option(1e-3, "learning rate of the round's few numbers", above=0)
    lr_decay: float = option(1.0, "round k trains with lr * lr_decay**k", above=0)
    steps: int = option(10, "optimizer steps per round", at_least=1)
    prompts_per_step: int = option(16, "prompts per optimizer step (the global batch across processes)")
    num_generations: int = option(4, "sampled completions per prompt (the group GRPO compares)")
    max_completion_length: int = option(16, "tokens per sampled completion")
    temperature: float = option(1.0, "sampling temperature", above=0)
    top_p: float = option(1.0, "nucleus sampling", above=0, at_most=1)
    beta: float = option(0.0, "KL penalty to the round's starting model (0 as in the TinyLoRA reproductions)", at_least=0)
    loss_type: str = option("grpo", "TRL loss aggregation: grpo, dapo, dr_grpo or bnpo")
    scale_rewards: str = option("group", "TRL advantage scaling: group, batch or none")
    drop_zero_variance: bool = option(True, "drop prompt groups whose samples all score alike (no gradient)")
    screen_samples: int = option(
        0, "before training, sample this many completions per example and train on those whose samples disagree "
        "(sometimes solved), filled at random to one step; 0 = off")
    warmup_steps: int = option(1, "linear warm-up steps at the start of every round", at_least=0)
    schedule: Literal["constant", "cosine"] = option("constant", "learning-rate schedule after warm-up")
    max_grad_norm: float = option(1.0, "gradient clipping norm (0: no clipping)", at_least=0)
    gradient_checkpointing: bool = option(False, "trade compute for memory on long completions")
    generation_backend: Literal["transformers", "vllm"] = option(
        "transformers", "transformers, or vllm (GPU, `pip install 'boostlora[vllm]'`): TRL samples through it")
    vllm_mode: Literal["colocate", "server"] = option(
        "colocate", "colocate (vLLM inside each training process) or server (`trl vllm-serve`)")
    vllm_gpu_memory_utilization: float = option(0.3, "share of GPU memory vLLM may take (colocate only)", above=0, at_most=1)
    vllm_server_base_url: str | None = option(None, "URL of a `trl vllm-serve` process (server only)")

    def validate(self) -> None:
        for key in ("steps", "prompts_per_step", "max_completion_length"):
            if self[key] < 1:
                raise ConfigError(f"objective_options.{key} must be a positive integer, got {self[key]!r}")
        if self.screen_samples == 1 or self.screen_samples < 0:
            raise ConfigError(f"objective_options.screen_samples must be 0 (off) or at least 2 (a pass rate needs "
                              f"samples that can disagree), got {self.screen_samples!r}")
        if self.num_generations < 2:
            raise ConfigError(f"objective_options.num_generations must be an integer >= 2 (GRPO compares samples), got {self.num_generations!r}")
        if not self.lr > 0:
            raise ConfigError(f"objective_options.lr must be positive, got {self.lr!r}")
        if not self.temperature > 0:
            raise ConfigError(f"objective_options.temperature must be positive, got {self.temperature!r}")
        if self.beta < 0:
            raise ConfigError(f"objective_options.beta must be non-negative, got {self.beta!r}")


class GRPO(Objective):
    """Group-relative policy optimisation with the task's reward, TRL doing sampling and the loss."""

    name: ClassVar[str] = "grpo"
    description: ClassVar[str] = "RL with the task's verifiable reward (TRL GRPOTrainer), dynamic sampling"
    Options = GRPOOptions

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        if self.options["generation_backend"] == "vllm":
            require_vllm("objective_options.generation_backend=vllm")

    def check_processes(self, processes: int) -> None:
        """Refuse, before the first round, a step that cannot be split into whole prompt groups per process.

        ``prompts_per_step`` is the step's global batch, as in a one-process run, so N processes reproduce the
        same step; each takes ``prompts_per_step / N`` prompts with all their ``num_generations`` samples (the
        advantages and the dropping of zero-variance groups are per group, so a group must not straddle ranks).
        """
        per_step = self.options["prompts_per_step"]
        if per_step % processes:
            raise ConfigError(
                f"objective_options.prompts_per_step={per_step} cannot be split over {processes} processes: each takes "
                f"whole prompt groups (num_generations={self.options['num_generations']} samples each), so "
                f"prompts_per_step must be a multiple of the process count"
            )

    def check(self, task: Task) -> None:
        require_capability(self.name, task, GenerativeTask, "generates text (prompt, reward and a tokenizer)")
        self.check_processes(distributed.world_size())

    def preflight(self, task: Task, model: Any, examples: Any) -> None:
        for example in examples:
            check_prompt(f"task '{task.name}'", task.prompt(example))  # type: ignore[attr-defined]

    def train(self, ctx: RoundContext) -> TrainResult:
        clock = RoundClock()  # where the round's time goes (grpo_timing); setup runs until trainer.train()
        clock.start("setup")
        from datasets import Dataset, concatenate_datasets
        from transformers import TrainerCallback
        from transformers.trainer_callback import PrinterCallback, ProgressCallback
        from trl import GRPOConfig, GRPOTrainer

        o = self.options
        task = ctx.task
        if not ctx.trainable:
            raise ConfigError("nothing to train: the round's adapter has no trainable parameters")
        if not ctx.examples:
            raise ConfigError("grpo: the round has no examples to train on")
        tokenizer = task.tokenizer  # type: ignore[attr-defined]
        if tokenizer is None:
            raise ConfigError(f"grpo: task '{task.name}' has no tokenizer (load_model must set task.tokenizer)")

        _train_only(ctx)
        round_adapter = getattr(ctx.model, "active_adapter", None)
        examples = list(ctx.examples)
        processes = distributed.world_size()
        screen = None
        if o["screen_samples"]:
            with clock("screen"):
                screen = screen_examples(ctx.model, task, examples, samples=o["screen_samples"],
                                         max_new_tokens=o["max_completion_length"], temperature=o["temperature"],
                                         top_p=o["top_p"], fill_to=o["prompts_per_step"], seed=ctx.seed,
                                         show_progress=ctx.show_progress)
            examples = [examples[i] for i in screen.kept]
        dataset = Dataset.from_dict(
            {"prompt": [trl_prompt(tokenizer, task.prompt(ex)) for ex in examples], "example_index": list(range(len(examples)))}  # type: ignore[attr-defined]
        )

        def reward(prompts: list[Any], completions: list[Any], example_index: list[int], **_: Any) -> list[float]:
            with clock("reward"):
                return [check_reward(f"task '{task.name}'", task.reward(examples[i], completion_text(c)))  # type: ignore[attr-defined]
                        for i, c in zip(example_index, completions)]

        reward.__name__ = f"{task.name}_reward"
        # a failure set smaller than the step: fewest whole groups per process that still cover it
        prompts_per_step = min(o["prompts_per_step"], -(-len(examples) // processes) * processes)
        if len(dataset) < prompts_per_step:  # TRL's sampler needs a whole step's worth of rows
            dataset = concatenate_datasets([dataset] * -(-prompts_per_step // len(dataset)))
        lr = o["lr"] * o["lr_decay"] ** ctx.round
        optimizer = torch.optim.AdamW(ctx.trainable, lr=lr, weight_decay=0.0)
        scheduler = warmup_schedule(optimizer, o["warmup_steps"], o["steps"], o["schedule"])
        trainer_cls = timed_trainer(_dynamic_sampling_trainer(GRPOTrainer) if o["drop_zero_variance"] else GRPOTrainer, clock)

        with tempfile.TemporaryDirectory(prefix="boostlora-grpo-") as tmp, warnings.catch_warnings():
            # TRL's config still spells transformers' activation_checkpointing the deprecated way; not ours to fix
            warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*", category=FutureWarning)
            args = GRPOConfig(
                output_dir=tmp,
                report_to="none",
                save_strategy="no",
                logging_steps=1,
                disable_tqdm=True,
                max_steps=o["steps"],
                learning_rate=lr,
                per_device_train_batch_size=prompts_per_step // processes * o["num_generations"],
                gradient_accumulation_steps=1,
                num_generations=o["num_generations"],
                max_completion_length=o["max_completion_length"],
                temperature=o["temperature"],
                top_p=o["top_p"],
                beta=o["beta"],
                loss_type=o["loss_type"],
                scale_rewards=o["scale_rewards"],
                max_grad_norm=o["max_grad_norm"],
                gradient_checkpointing=o["gradient_checkpointing"],
                seed=ctx.seed,
                use_cpu=ctx.device.type == "cpu",
                bf16=False,
                fp16=False,
                remove_unused_columns=False,
                dataloader_num_workers=0,
                **vllm_arguments(o),
            )
            trainer = trainer_cls(
                model=ctx.model,
                reward_funcs=reward,
                args=args,
                train_dataset=dataset,
                processing_class=tokenizer,
                optimizers=(optimizer, scheduler),
            )
            trainer.remove_callback(PrinterCallback)
            trainer.remove_callback(ProgressCallback)
            trainer.add_callback(_progress_callback(TrainerCallback, f"round {ctx.round} grpo", o["steps"], ctx.show_progress))
            trainer.add_callback(step_callback(TrainerCallback, clock))
            if o["drop_zero_variance"]:
                trainer.kept_fractions = []
            clock.stop("setup")
            clock.start("trainer_start")
            with cpu_logprob_tiles(ctx.device):
                trainer.train()
            history = [row for row in trainer.state.log_history if "reward" in row]
            step_logs = [step_numbers(row) for row in history]
            steps = trainer.state.global_step
            kept = getattr(trainer, "kept_fractions", None)
        _drop_reference_adapter(ctx.model, round_adapter)
        ctx.model.eval()
        metrics = {**_summary(history, kept, lr), **(screen.metrics() if screen else {})}
        return TrainResult(steps=steps, losses=[float(r.get("loss", 0.0)) for r in history], metrics=metrics,
                           seconds_by_phase=clock.split(), peak_rss_mb_by_phase=clock.peaks(), step_logs=step_logs)


def step_numbers(row: dict[str, Any]) -> dict[str, float]:
    """One step of TRL's log history as step metrics: its numbers, without the step and epoch counters.

    The trainer's own ``report_to`` stays ``none``: a trainer per round would open a tracker run per round, so the
    run relays these rows to one tracker run instead (``runs.tracking``).
    """
    return {key: float(value) for key, value in row.items()
            if key not in ("step", "epoch") and isinstance(value, (int, float)) and not isinstance(value, bool)}


def require_vllm(setting: str) -> None:
    """One clear message instead of an ImportError deep inside TRL."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise ConfigError(f"{setting} needs vLLM, which is not installed: pip install 'boostlora[vllm]' (Linux, CUDA GPU)")
    if not torch.cuda.is_available():
        raise ConfigError(f"{setting} needs a CUDA GPU; vLLM does not generate on CPU")


def vllm_arguments(o: dict[str, Any]) -> dict[str, Any]:
    """GRPOConfig fields for TRL's vLLM path. TRL pushes the policy's weights (the merged model plus the round's
    adapter, merged on the fly) to vLLM before it samples, so every round samples from the current model."""
    if o["generation_backend"] != "vllm":
        return {"use_vllm": False}
    arguments: dict[str, Any] = {"use_vllm": True, "vllm_mode": o["vllm_mode"]}
    if o["vllm_mode"] == "colocate":
        arguments["vllm_gpu_memory_utilization"] = o["vllm_gpu_memory_utilization"]
    elif o["vllm_server_base_url"]:
        arguments["vllm_server_base_url"] = o["vllm_server_base_url"]
    return arguments


def _train_only(ctx: RoundContext) -> None:
    """Freeze everything but the round's parameters, whatever the wrapper set before."""
    keep = {id(p) for p in ctx.trainable}
    for p in ctx.model.parameters():
        p.requires_grad_(id(p) in keep)


def _drop_reference_adapter(model: Any, round_adapter: str | None) -> None:
    """With beta > 0 TRL adds a frozen 'ref' copy of the adapter; the loop must merge only the round's own."""
    peft_config = getattr(model, "peft_config", None)
    if isinstance(peft_config, dict) and "ref" in peft_config:
        if round_adapter is not None:
            model.set_adapter(round_adapter)
        model.delete_adapter("ref")


def _summary(history: list[dict[str, Any]], kept: list[float] | None, lr: float) -> dict[str, float]:
    """Reward at the start and end of the round, and how much of the sampling carried signal."""
    if not history:
        return {"lr": lr}
    rewards = [float(r["reward"]) for r in history]
    out = {
        "lr": lr,
        "reward_first": rewards[0],
        "reward_last": rewards[-1],
        "reward_mean": sum(rewards) / len(rewards),
    }
    zero_std = [float(r["frac_reward_zero_std"]) for r in history if "frac_reward_zero_std" in r]
    if zero_std:
        out["frac_reward_zero_std"] = sum(zero_std) / len(zero_std)
    if kept:
        out["kept_group_fraction"] = sum(kept) / len(kept)
    return out
