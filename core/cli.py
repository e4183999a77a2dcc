"""``boostlora``: run, resume, list plugins, and read reports.

A user-facing error prints as one line on stderr, ``boostlora: error: ...``, naming the file or setting and the
problem, and exits with its own status (``errors.EXIT_*``): 2 for usage, configuration and data errors, 74 for a
file that cannot be read or written (full disk, no permission), a corrupt or foreign run-directory file, or a
non-empty ``--out`` that is not a run directory (without ``--overwrite``), 75 for a
run directory another live run holds, 130 for an interruption (with the resume command when there is something to
resume), 143 and 129 for SIGTERM and SIGHUP, which stop a run as Ctrl-C does. ``--debug`` or ``BOOSTLORA_DEBUG=1`` print the traceback too. Anything else is a bug and keeps its
traceback (exit 1), so that it gets reported.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from boostlora.foundation.config import (
    build_config,
    check_setting,
    load_yaml,
    merge_layers,
    parse_override,
    shown,
)
from boostlora.foundation.errors import (
    STOP_SIGNALS,
    BoostLoraError,
    ConfigError,
    Interrupted,
    RunDirError,
    StopSignal,
    interruption,
)
from boostlora.foundation.launch import relaunch_for_long_commands

DEFAULT_PLUGIN = "math"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="boostlora",
        description="BoostLoRA: boost a model with rounds of tiny TinyLoRA adapters, each merged and discarded.",
    )
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error too (or BOOSTLORA_DEBUG=1)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", parents=[common], help="start a run, or resume one with --resume DIR")
    run.add_argument("--plugin", help=f"task plugin (default: {DEFAULT_PLUGIN}); see `boostlora plugins`")
    run.add_argument("--task", help="task within the plugin, when it has several")
    run.add_argument("--preset", help="named settings from the task (its 'default' preset applies otherwise)")
    run.add_argument("--config", type=Path, help="YAML file of settings (see --list-settings)")
    run.add_argument("--model", help="hub name or local path of the model to boost")
    run.add_argument("--out", help="run directory (default: runs/<plugin>-<strategy>)")
    run.add_argument("--overwrite", action="store_true",
                     help="start in --out even if it holds other files or a previous run: only boostlora's own files "
                          "there are replaced, nothing else is touched")
    run.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    run.add_argument("--list-settings", action="store_true",
                     help="print every setting, and every task and objective option, with its default, and exit")
    run.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="settings, e.g. max_rounds=8 objective_options.lr=1e-3")

    settings = commands.add_parser("settings", parents=[common],
                                   help="every resolved setting of a run and the layer that set it (nothing runs)")
    settings.add_argument("--plugin", help=f"task plugin (default: {DEFAULT_PLUGIN})")
    settings.add_argument("--task", help="task within the plugin, when it has several")
    settings.add_argument("--preset", help="named settings from the task (its 'default' preset applies otherwise)")
    settings.add_argument("--config", type=Path, help="YAML file of settings")
    settings.add_argument("--model", help="hub name or local path of the model")
    settings.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="settings, as for `boostlora run`")

    plugins = commands.add_parser("plugins", parents=[common], help="list installed plugins, their tasks and objectives")
    plugins.add_argument("--verbose", action="store_true", help="also every task's and objective's options")

    bench = commands.add_parser("bench", parents=[common], help="every task under every method, side by side (see boostlora.bench)")
    bench.add_argument("--suite", default="cpu",
                       help="cpu (offline, CPU-sized), paper (GPU and hub) or speed (cost measurements in benchmarks/)")
    bench.add_argument("--out", type=Path, default=Path("runs/bench"), help="where JSON, tables and plots go")
    bench.add_argument("--plugins", nargs="+", help="only these plugins (speed suite: only these scripts)")
    bench.add_argument("--methods", nargs="+", help="only these methods (boost-rotate always runs)")
    bench.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                       help="seeds every method runs under (cpu suite: 0 1 2 3 4; paper: 0)")
    bench.add_argument("--seed", type=int, help="a single seed (same as --seeds SEED)")
    bench.add_argument("--extensions", type=int, nargs="+", metavar="M",
                       help="step multiples for the extended-training rows, including 1 (cpu suite: 1 2 4)")
    bench.add_argument("--results", type=Path, help="also write the Markdown table here (benchmarks/RESULTS.md)")
    bench.add_argument("--dry-run", action="store_true", help="resolve every setting of every run, train nothing")
    bench.add_argument("--resume", action="store_true", help="keep the runs an interrupted suite finished in --out")
    bench.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                       help="settings for every run, e.g. evaluate_on=validation objective_options.steps=6")

    export = commands.add_parser("export", parents=[common], help="write a run's cumulative update as a peft LoRA adapter")
    export.add_argument("run_dir", type=Path)
    export.add_argument("--as", dest="format", choices=["lora"], default="lora", help="export format")
    export.add_argument("--out", type=Path, help="output directory (default: RUN_DIR/lora)")
    export.add_argument("--round", type=int, metavar="K", dest="round_index",
                        help="export the model after round K (default: the round the run kept, see `keep`)")
    export.add_argument("--base", metavar="NAME_OR_PATH",
                        help="the base the adapter names (hub id or model directory); default: the run's hub id or "
                             "local model directory, or for a GGUF model OUT/base, where the dequantised base is written")

    report = commands.add_parser("report", parents=[common], help="print a run's per-round table and write its plot")
    report.add_argument("run_dir", type=Path)
    report.add_argument("--json", action="store_true", help="print report.json instead of the table")
    report.add_argument("--examples", type=int, metavar="N", default=0,
                        help="also show N held-out examples with the base and the kept model's answers, flips first")
    return parser


def resolve_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Defaults < task preset < --config file < --plugin/--model flags < KEY=VALUE overrides."""
    return resolve(args)[0]


def resolve(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """The resolved settings, the layer that set each, and notes (see ``config.merge_layers``)."""
    layers = settings_layers(args)
    from boostlora.contract.plugins import find_task

    plugin = next(layer["plugin"] for _, layer in layers if "plugin" in layer)
    task_name = next((layer["task"] for _, layer in reversed(layers) if layer.get("task")), None)
    return merge_layers(layers, default_objective=find_task(plugin, task_name).default_objective)


def settings_layers(args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    """The layers ``resolve_settings`` merges, lowest first, each named by where it comes from."""
    file_settings = load_yaml(args.config) if args.config else {}
    overrides = dict(parse_override(item) for item in args.overrides)
    for source in (overrides, file_settings):  # read before the rest is checked: a list here is no name
        for name in ("plugin", "task"):
            if source.get(name) is not None:
                check_setting(name, source[name])
    if file_settings.get("preset") is not None and not isinstance(file_settings["preset"], str):
        raise ConfigError(f"preset in {args.config} must be a string, got {shown(file_settings['preset'])}")
    plugin = overrides.get("plugin") or args.plugin or file_settings.get("plugin") or DEFAULT_PLUGIN
    task_name = overrides.get("task") or args.task or file_settings.get("task")
    from boostlora.contract.plugins import find_task

    task_cls = find_task(plugin, task_name)
    preset_name = args.preset or file_settings.pop("preset", None)
    presets = dict(getattr(task_cls, "presets", {}) or {})
    if preset_name is not None and preset_name not in presets:
        known = ", ".join(sorted(presets)) or "none"
        raise ConfigError(f"task '{task_cls.name}' has no preset {shown(preset_name)} (available: {known})")
    flags = {"plugin": args.plugin, "task": args.task, "model": args.model}
    return [
        ("default", {"plugin": plugin}),  # the resolved plugin; a layer below that named it sets it again
        (f"preset '{preset_name or 'default'}'", dict(presets.get(preset_name or "default", {}))),
        (str(args.config), file_settings),
        ("the command line", {k: v for k, v in flags.items() if v is not None}),
        ("the command line", overrides),
    ]


def cmd_settings(args: argparse.Namespace) -> int:
    """Every resolved setting, task option and objective option, with the layer that set it."""
    from boostlora.contract.options import describe_options
    from boostlora.contract.plugins import find_objective, find_task
    from boostlora.foundation.config import FIELDS, build_config

    settings, origin, notes = resolve(args)
    config = build_config(settings)
    task_cls = find_task(config.plugin, config.task)
    objective_cls = find_objective(config.objective or task_cls.default_objective)
    rows = [(name, getattr(config, name), origin.get(name, "default")) for name in FIELDS
            if name not in ("task_options", "objective_options")]
    for setting, owner, values in (("task_options", task_cls, config.task_options),
                                   ("objective_options", objective_cls, config.objective_options)):
        described = {name: default for name, default, _ in describe_options(owner)}
        for name in [*described, *(n for n in values if n not in described)]:
            key = f"{setting}.{name}"
            rows.append((key, values.get(name, described.get(name)), origin.get(key, "default")))
    width = max(len(name) for name, _, _ in rows)
    print(f"{'setting':<{width}}  {'value':<28}  set by")
    for name, value, source in rows:
        text = repr(value)
        print(f"{name:<{width}}  {text if len(text) <= 28 else text[:25] + '...':<28}  {source}")
    for note in notes:
        print(f"note: {note}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from boostlora.runs.lifecycle import boost, resume

    if args.list_settings:
        from boostlora.contract.listing import plugin_lines, run_settings

        print("\n".join(run_settings()))
        print("\ntask_options and objective_options of every installed plugin (boostlora plugins --verbose):")
        print("\n".join(plugin_lines(verbose=True)))
        return 0
    for flag, value in (("--out", args.out), ("--resume", args.resume)):
        if value is not None and not value.strip():  # Path("") is ".": an empty value must not mean the working directory
            raise ConfigError(f"{flag} is empty: give a directory")
    args.out = Path(args.out) if args.out is not None else None
    args.resume = Path(args.resume) if args.resume is not None else None
    if args.resume:
        args.run_dir_in_use = args.resume
        flags = (("--plugin", args.plugin), ("--task", args.task), ("--config", args.config), ("--preset", args.preset),
                 ("--model", args.model), ("--out", args.out), ("--overwrite", args.overwrite))
        extra = [flag for flag, value in flags if value]
        if extra:
            raise ConfigError("--resume continues a run exactly as it was configured: drop " + ", ".join(extra))
        report = resume(args.resume, dict(parse_override(item) for item in args.overrides))
    else:
        settings, _, notes = resolve(args)
        for note in notes:
            print(f"boostlora: note: {note}", file=sys.stderr)
        config = build_config(settings)
        out = args.out or Path("runs") / f"{config.plugin}-{config.strategy}"
        args.run_dir_in_use = out
        report = boost(config, out, overwrite=args.overwrite)
        print(f"run directory: {out}")
    return 0 if report else 1


def cmd_plugins(args: argparse.Namespace) -> int:
    """The plugins that loaded, then (one line, exit 2) the first one that did not."""
    from boostlora.contract.listing import plugin_lines
    from boostlora.contract.plugins import load_errors

    print("\n".join(plugin_lines(verbose=args.verbose)), flush=True)
    if load_errors:
        raise load_errors[0]
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import json

    from boostlora.runs.predictions import format_examples
    from boostlora.runs.report import (
        format_table,
        format_time_table,
        plot_report,
        read_report,
        summary_lines,
    )

    report = read_report(args.run_dir)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['plugin']}/{report['task']} on {report['model']}: strategy={report['strategy']} r={report['r']} u={report['u']}")
    for line in summary_lines(report):
        print(line)
    print(format_table(report))
    if args.examples > 0:
        print()
        print(format_examples(args.run_dir, report, args.examples))
    times = format_time_table(report)
    if times:
        print()
        print(times)
    try:
        plot = plot_report(report, args.run_dir / "rounds.png")
    except OSError as exc:  # a read-only run directory (someone else's, an archive): the table is what was asked for
        where = exc.filename or args.run_dir / "rounds.png"
        print(f"boostlora: warning: plot not written: {where}: {exc.strerror or exc}", file=sys.stderr)
        return 0
    if plot:
        print(f"plot: {plot}")
    else:
        print("plot: not drawn, matplotlib is not installed (pip install 'boostlora[bench]')")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import json

    from boostlora.bench.suite import run_suite
    from boostlora.bench.units import METHODS

    command = "boostlora " + " ".join(sys.argv[1:])
    if args.suite == "speed":
        from boostlora.bench.speed import run_speed_suite

        if args.dry_run or args.methods:
            raise ConfigError("the speed suite has no methods and no dry run")
        run_speed_suite(args.out, results_file=args.results, command=command, only=args.plugins)
        print((args.out / "RESULTS-speed.md").read_text())
        return 0
    methods = tuple(args.methods) if args.methods else METHODS
    overrides = dict(parse_override(item) for item in args.overrides)
    results = run_suite(
        args.suite, args.out, plugins=args.plugins, methods=methods, seed=args.seed, seeds=args.seeds,
        extensions=args.extensions, overrides=overrides or None, dry_run=args.dry_run, resume=args.resume,
        results_file=args.results, command=command,
    )
    if args.dry_run:
        print(json.dumps(results, indent=2, default=str))
    else:
        print((args.out / f"RESULTS-{args.suite}.md").read_text())
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import json

    from boostlora.runs.export import export_lora

    out, rounds = export_lora(args.run_dir, args.out or args.run_dir / "lora", args.round_index, args.base)
    base = json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"]
    print(f"LoRA adapter of the model after round {rounds - 1} written to {out}, on base {base} "
          f"(load with peft.AutoPeftModelForCausalLM.from_pretrained('{out}'), or "
          f"peft.PeftModel.from_pretrained(base_model, '{out}'))")
    return 0


def entry() -> int:
    """The ``boostlora`` command and ``python -m boostlora``: a long command first gets the process environment a
    run wants (``foundation/launch.py``: the allocator's settings, read only when a process starts), then ``main``."""
    relaunch_for_long_commands(sys.argv[1:])
    return main()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # `bench --seeds 0 1 2 KEY=VALUE` would hand KEY=VALUE to --seeds: take settings out wherever they stand
    command = next((a for a in argv if not a.startswith("-")), None)
    moved = [a for a in argv if command == "bench" and "=" in a and not a.startswith("-")]
    args, extra = parser.parse_known_args([a for a in argv if a not in moved])
    extra = [*moved, *extra]
    # KEY=VALUE overrides may come after options (`run --out DIR max_rounds=8`); anything else is a typo.
    unknown = [item for item in extra if args.command not in ("run", "bench", "settings") or item.startswith("-") or "=" not in item]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    handlers = {"run": cmd_run, "settings": cmd_settings, "plugins": cmd_plugins, "report": cmd_report, "export": cmd_export, "bench": cmd_bench}
    debug = getattr(args, "debug", False) or os.environ.get("BOOSTLORA_DEBUG", "").lower() in ("1", "true", "yes")
    previous = stop_on_signals()
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt as exc:
        from boostlora.runs.rundir import interrupted_message

        signal_name, code = interruption(exc)
        message = interrupted_message(getattr(args, "run_dir_in_use", None), signal_name=signal_name)
        return report_error(Interrupted(message, code), exc, debug)
    except BoostLoraError as exc:
        return report_error(exc, exc, debug)
    except BrokenPipeError:  # `boostlora report DIR | head`: the reader has all it wanted; end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's final flush must not fail again
        return 0
    except OSError as exc:  # the environment, not our code: a path that is missing, unwritable, full, ...
        where = f"{exc.filename}: " if exc.filename else ""
        return report_error(RunDirError(f"{where}{exc.strerror or exc}"), exc, debug)
    finally:
        restore_signals(previous)


def stop_on_signals() -> dict[int, Any]:
    """Make SIGTERM and SIGHUP stop the command as Ctrl-C does (the same cleanup, the same one line with the
    resume command), exiting 143 and 129; return the handlers they replace. A repeated signal while the command is
    already stopping is ignored, so that the cleanup finishes. Only the main thread can set handlers: elsewhere
    (boostlora.cli.main called from a thread) the signals keep theirs."""
    stopping = []

    def stop(signum: int, frame: Any) -> None:
        if stopping:
            return
        stopping.append(signum)
        raise StopSignal(signum)

    previous: dict[int, Any] = {}
    for signum in STOP_SIGNALS:
        try:
            previous[signum] = signal.signal(signum, stop)
        except ValueError:  # not the main thread
            break
    return previous


def restore_signals(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def report_error(error: BoostLoraError, cause: BaseException, debug: bool) -> int:
    """Print ``error`` as one line on stderr (after ``cause``'s traceback with ``debug``); return its exit status."""
    if debug:
        traceback.print_exception(cause, file=sys.stderr)
    line = " ".join(str(error).split())
    print(f"boostlora: error: {line}", file=sys.stderr)
    return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
