"""Fleet replay: many inputs through the normal pipeline in parallel on Ray, one run folder each.

    python -m perception.replay --inputs DIR|GLOB|FILE... --output OUT [--workers N] [--address ADDR]
                                [--resume] [any perception.run flag]

See ``perception.replay.fleet`` (planning, the Ray tasks, fleet.json) and ``perception.replay.index``
(OUT/index.html).
"""
