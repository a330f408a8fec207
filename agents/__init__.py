"""Colored-noise PPO expert agents: training (train_ppo), evaluation, shipped policies."""
