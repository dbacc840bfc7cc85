"""The training pipeline of the bundled models, and the measurements in their cards.

A tool above the library: it builds on ``langgraph_ttc.suite`` (the task, the
tokenizer, the model shapes) and ``langgraph_ttc.verifiers`` (the PRM), and
nothing in the library imports it. Run it with::

    python -m langgraph_ttc.training --out DIR [--scale full|quick|smoke] [--seed 0]

- ``cli``: the command line;
- ``pipeline``: the resumable stages of a run;
- ``loops``: the fine-tuning loops;
- ``sampling``: a lean batched sampler for rollouts and metrics;
- ``metrics``: ``metrics.json``, every number in the model cards;
- ``cards``: the model cards;
- ``prompts`` and ``scale``: what the stages and the metrics share.
"""
