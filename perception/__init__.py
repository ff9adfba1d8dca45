"""Camera perception for driving: frames -> one multi-task CNN -> tracks, lanes, ground geometry.

Data flows one way: ``sources`` -> ``preprocess`` -> ``model`` -> ``postprocess`` -> ``sinks``.
See ``perception/run.py`` for the main job (``python -m perception.run --video PATH``).
"""

__version__ = "0.1.0"
