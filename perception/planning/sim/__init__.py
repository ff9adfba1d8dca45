"""The simulator side of planning: highway-env environments, the perception noise model, DQN training
(stable-baselines3), evaluation, and the teacher / distillation experiments.

    python -m perception.planning.sim.train --config perception/planning/sim/configs/dqn_shield.yaml
    python -m perception.planning.sim.evaluate --episodes 100
    python -m perception.planning.sim.distill ...

gymnasium, highway-env and stable-baselines3 are imported inside the functions that need them (the ``rl``
extra). The runtime (``perception.planning`` observation, policy, veto, stage) never imports this package.
"""
