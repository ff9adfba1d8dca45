"""Behaviour planning: the observation contract, an RL policy trained in highway-env, and a safety veto.

Perception never hands the planner anything but a :class:`~perception.planning.observation.KinematicsObservation`
array; the simulator produces the same array, so a policy trained there runs on video unchanged.

Runtime (what ``perception.run`` uses): ``actions``, ``observation``, ``policy``, ``veto``, ``stage``.
The simulator side (highway-env, stable-baselines3: environments, noise model, training, evaluation) is
``perception.planning.sim``; the runtime never imports it. ``perception.planning.train`` / ``.evaluate`` are
shims for ``perception.planning.sim.train`` / ``.evaluate``.
"""
