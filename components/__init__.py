"""TFX-style pipeline components: validate, split, train, evaluate, push.

Each component module has a pure core, a `run(config, inputs, outputs)` adapter that does the I/O on
paths it is given, and a `main(argv)` CLI that is also the container entry point.
"""
