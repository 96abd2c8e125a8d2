"""Pictures of models and runs: training curves, feature maps, filters, layer graphs.

Every submodule imports matplotlib/numpy/Keras inside its functions or only when it is
itself imported, and nothing the CLI loads for ``--help`` imports this package's
submodules at module level.
"""
