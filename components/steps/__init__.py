"""The pipeline's five steps, one module each: validate, split, train, evaluate, push.

A step module declares its `SPEC` (components/core/interface.py: inputs, outputs, image, traits), holds its core
(or imports it: train's is components/training/loop.py), `run(config, inputs, outputs)`, which touches only the
paths it is given, and `main(argv)`, the CLI that is also the container entry point
(`python -m components.steps.<name>`).
"""
