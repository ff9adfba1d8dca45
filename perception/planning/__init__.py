"""Behaviour planning: the observation contract, an RL policy trained in highway-env, and a safety veto.

Perception never hands the planner anything but a :class:`~perception.planning.observation.KinematicsObservation`
array; the simulator produces the same array, so a policy trained there runs on video unchanged.
"""
