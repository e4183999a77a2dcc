"""The code task's pass@k as an ``evaluate`` module, each answer run by the code plugin's sandboxed checker::

    import evaluate
    from boostlora_plugins.code import metric_path, problem_to_json

    pass_at_k = evaluate.load(metric_path())  # a local file: loads with the network off
    pass_at_k.compute(predictions=[[answer_1, answer_2], ...], references=[problem_to_json(problem), ...],
                      k=[1, 2], allow_code_execution=True)  # and BOOSTLORA_ALLOW_CODE_EXEC=1 in the environment

``predictions`` hold n >= k answers per problem (completions as the model wrote them: the code is extracted
and joined to the problem's prompt code as the task does), ``references`` the problems as ``problem_to_json``
writes them. It returns ``pass@k`` for every k: the unbiased estimator averaged over problems, with each answer
judged exactly as the code task's oracle judges it. With one greedy answer per problem, ``pass@1`` is the run's
``pass@1_greedy``.

Running model-written code needs the same two switches as the code task: ``allow_code_execution=True`` here and
``BOOSTLORA_ALLOW_CODE_EXEC=1`` in the environment. ``isolation`` and ``workers`` are the task's
``sandbox_isolation`` and ``sandbox_workers``; the limits are the task's defaults unless ``sandbox_limits`` names
others. evaluate copies this file into its module cache and imports it from there, so it names the plugin
absolutely.
"""

import datasets
import evaluate

from boostlora_plugins.code.checker import Checker
from boostlora_plugins.code.consent import require_consent
from boostlora_plugins.code.data import problem_from_json
from boostlora_plugins.code.limits import Limits
from boostlora_plugins.code.metrics import mean_pass_at_k


class PassAtK(evaluate.Metric):
    """pass@k of candidate answers to code problems, checked in the code plugin's sandbox."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=__doc__,
            citation="Chen et al. (2021), Evaluating Large Language Models Trained on Code (the pass@k estimator)",
            inputs_description="predictions: n answers per problem; references: problems as problem_to_json writes "
            "them; k: list of k; allow_code_execution: True to run code (with BOOSTLORA_ALLOW_CODE_EXEC=1)",
            features=datasets.Features({
                "predictions": datasets.Sequence(datasets.Value("string")),
                "references": datasets.Value("string"),
            }),
        )

    def _compute(self, predictions, references, k=(1,), allow_code_execution=False, isolation="auto", workers=None,
                 sandbox_limits=None):
        require_consent(allow_code_execution)
        problems = [problem_from_json(text) for text in references]
        checker = Checker(Limits.from_mapping(sandbox_limits or {}), isolation, workers)
        pairs = [(problem, answer) for problem, answers in zip(problems, predictions) for answer in answers]
        results = checker.check_many([p for p, _ in pairs], [a for _, a in pairs])
        counts, start = [], 0
        for answers in predictions:
            counts.append((len(answers), sum(r.ok for r in results[start:start + len(answers)])))
            start += len(answers)
        return {f"pass@{n}": mean_pass_at_k(counts, n) for n in k}
