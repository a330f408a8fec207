"""Real clients, written the way their documentation writes them, with only the env id changed:
SB3 (make_vec_env, VecNormalize, EvalCallback, VecVideoRecorder, check_env), Gymnasium
(make with render_mode, RecordVideo inside RecordEpisodeStatistics and NormalizeObservation,
make_vec sync and vector_entry_point, check_env with its render check).

Every env here is CartpoleBalance with default options, so all of them share one compiled
step (tests/test_shared_compile.py); frames are small where a video is encoded.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import pytest

import jacwrap

NAME = "CartpoleBalance"
ENV_ID = f"jacwrap/{NAME}-v0"
W, H = 160, 96  # a video size that H.264 takes as is (multiples of 16)

pytestmark = pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # ffmpeg fork+exec


def decoded(folder) -> np.ndarray:
    """The frames of the one MP4 file in ``folder``."""
    videos = sorted(folder.glob("*.mp4"))
    assert len(videos) == 1, videos
    return iio.imread(videos[0], index=None)


def sb3_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if "stable_baselines3" in (w.filename or "")]


# ------------------------------------------------------------------ Stable-Baselines3
def test_ppo_on_make_vec_env_behind_vecnormalize_with_an_eval_callback(tmp_path):
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    class KeepInfos(BaseCallback):
        def _on_training_start(self) -> None:
            self.infos = []

        def _on_step(self) -> bool:
            self.infos.append(self.locals["infos"])
            return True

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = VecNormalize(make_vec_env(ENV_ID, n_envs=4, seed=0))
        # gymnasium.make's own time limit keeps the evaluation episode short
        short = {"max_episode_steps": 100}
        eval_env = VecNormalize(make_vec_env(ENV_ID, 1, seed=1, env_kwargs=short), training=False)
        eval_callback = EvalCallback(eval_env, eval_freq=16, n_eval_episodes=1, log_path=tmp_path)
        keep = KeepInfos()
        model = PPO("MlpPolicy", env, n_steps=16, batch_size=32, n_epochs=1, seed=0)
        model.learn(total_timesteps=64, callback=[eval_callback, keep])
    assert sb3_warnings(caught) == []  # no missing render_mode, no missing Monitor
    assert env.render_mode == "rgb_array"  # make_vec_env asks gymnasium.make for it
    assert len(keep.infos) == 16 and all(len(infos) == 4 for infos in keep.infos)
    info = keep.infos[-1][3]
    assert info["jac_state"].shape == (4, 4) and info["jac_action"].shape == (4, 1)
    assert set(info["sparsity"]) == {"state", "action", "combined"}
    # one evaluation (at step 16), its episode to the time limit, counted by make_vec_env's Monitor
    assert eval_callback.evaluations_length == [[100]]
    assert np.isfinite(eval_callback.last_mean_reward)


def test_vec_video_recorder_on_make_vec_env_tiles_both_envs(tmp_path):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecVideoRecorder

    venv = make_vec_env(ENV_ID, n_envs=2, seed=0, env_kwargs={"width": W, "height": H})
    venv = VecVideoRecorder(venv, str(tmp_path), lambda step: step == 0, video_length=12)
    venv.reset()
    for _ in range(14):
        venv.step(np.ones((2, 1), np.float32))
    venv.close()
    frames = decoded(tmp_path)
    assert frames.shape[1:] == (2 * H, W, 3)  # SB3 tiles the two frames one above the other
    assert 12 <= frames.shape[0] <= 13
    assert frames.std() > 5


def test_vec_video_recorder_on_make_sb3(tmp_path):
    from stable_baselines3.common.vec_env import VecVideoRecorder

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        venv = jacwrap.make_sb3(NAME, 1, render_mode="rgb_array", width=W, height=H)
    assert sb3_warnings(caught) == []
    assert venv.metadata["render_fps"] == 100  # ctrl_dt = 0.01 s
    venv = VecVideoRecorder(venv, str(tmp_path), lambda step: step == 0, video_length=10)
    venv.reset()
    first = venv.get_images()[0]
    for _ in range(11):
        venv.step(np.ones((1, 1), np.float32))
    assert (venv.render() != first).any()  # the cart moved
    venv.close()
    frames = decoded(tmp_path)
    assert frames.shape[1:] == (H, W, 3) and 10 <= frames.shape[0] <= 11


def test_sb3_check_env_with_its_render_check():
    from stable_baselines3.common.env_checker import check_env

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(gym.make(ENV_ID, render_mode="rgb_array"), skip_render_check=False)
    assert sb3_warnings(caught) == []


# ------------------------------------------------------------------ Gymnasium
def test_record_video_inside_episode_statistics_and_observation_normalisation(tmp_path):
    from gymnasium.wrappers import NormalizeObservation, RecordEpisodeStatistics, RecordVideo

    env = gym.make(ENV_ID, render_mode="rgb_array", width=W, height=H)
    assert env.metadata["render_fps"] == 100
    env = RecordVideo(env, str(tmp_path / "videos"), step_trigger=lambda t: t == 0, video_length=15)
    env = NormalizeObservation(RecordEpisodeStatistics(env))
    env.reset(seed=0)
    for _ in range(20):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    env.close()
    assert info["jac_state"].shape == (4, 4)  # the Jacobians pass through the wrappers
    frames = decoded(tmp_path / "videos")
    assert frames.shape[1:] == (H, W, 3)
    assert frames.shape[0] == 16  # RecordVideo stops once it holds more than video_length
    assert len(np.unique(frames[0].reshape(-1, 3), axis=0)) > 10


def test_gymnasium_check_env_with_its_render_check():
    from gymnasium.utils.env_checker import check_env

    env = gym.make(ENV_ID, render_mode="rgb_array")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=False)  # also builds the env in every render mode
    messages = [str(w.message) for w in caught]
    # the one remark: observations are unbounded (as for Gymnasium's own MuJoCo envs)
    assert all("Box observation space" in m and "infinity" in m for m in messages), messages


def test_frames_are_those_playground_renders_for_the_same_state():
    from mujoco_playground._src.mjx_env import render_array

    env = jacwrap.make(NAME, render_mode="rgb_array")
    model = env.playground_env.mj_model
    _, info = env.reset(seed=0)
    frames, states = [env.render()], [info["state"]]
    for _ in range(40):
        _, _, _, _, info = env.step(np.ones(1, np.float32))
    frames.append(env.render())
    states.append(info["next_state"])
    assert (frames[0] != frames[1]).mean() > 0.001  # two states, two frames
    for frame, s in zip(frames, states, strict=True):
        assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 10  # not one colour
        state = SimpleNamespace(
            data=SimpleNamespace(
                qpos=s[: model.nq],
                qvel=s[model.nq :],
                mocap_pos=np.zeros((model.nmocap, 3)),
                mocap_quat=np.tile([1.0, 0, 0, 0], (model.nmocap, 1)),
                xfrc_applied=np.zeros((model.nbody, 6)),
            )
        )
        ref = render_array(model, state, height=240, width=320, camera=0)
        np.testing.assert_array_equal(frame, ref)


def test_depth_array_mode():
    env = jacwrap.make(NAME, render_mode="depth_array", width=64, height=48)
    env.reset(seed=0)
    depth = env.render()
    assert depth.shape == (48, 64) and depth.dtype == np.float32
    assert 0 < depth.min() < depth.max()


def test_make_vec_sync_renders_each_env():
    vec = gym.make_vec(
        ENV_ID, num_envs=4, vectorization_mode="sync", render_mode="rgb_array", width=W, height=H
    )
    _, infos = vec.reset(seed=0)
    vec.step(np.ones((4, 1), np.float32))
    frames = vec.render()
    assert len(frames) == 4 and all(f.shape == (H, W, 3) for f in frames)
    vec.close()


def test_make_vec_vector_entry_point_renders_each_env_as_a_single_env_would():
    # 3 envs: a batch size that test_envs.py compiles too (one compile for the suite)
    vec = gym.make_vec(
        ENV_ID,
        num_envs=3,
        vectorization_mode="vector_entry_point",
        render_mode="rgb_array",
        width=W,
        height=H,
    )
    assert isinstance(vec.unwrapped, jacwrap.JacobianVectorEnv)
    assert vec.metadata["render_fps"] == 100
    vec.reset(seed=5)
    actions = np.linspace(-1, 1, 3, dtype=np.float32)[:, None]
    vec.step(actions)
    frames = vec.render()
    assert isinstance(frames, tuple) and len(frames) == 3
    single = jacwrap.make(NAME, render_mode="rgb_array", width=W, height=H)
    for i in range(3):
        single.reset(seed=5 + i)
        single.step(actions[i])
        np.testing.assert_array_equal(frames[i], single.render())
    assert (frames[0] != frames[2]).any()
    vec.close()


# ------------------------------------------------------------------ keywords and errors
def test_unknown_keywords_raise_a_type_error_listing_the_accepted_ones():
    for build in (
        lambda: gym.make(ENV_ID, rendermode="rgb_array"),
        lambda: jacwrap.make_vec(NAME, 2, frame_skip=4),
        lambda: jacwrap.make_sb3(NAME, 2, frame_skip=4),
    ):
        with pytest.raises(TypeError) as err:
            build()
        message = str(err.value)
        assert "render_mode" in message and "episode_length" in message  # jacwrap's, config's
        assert "KeyError" not in message


def test_bad_render_options_fail_when_the_env_is_built():
    from jacwrap.render import RenderError

    with pytest.raises(RenderError, match="render_mode"):
        jacwrap.make(NAME, render_mode="human-ish")
    with pytest.raises(RenderError, match="lookatcart"):
        jacwrap.make(NAME, render_mode="rgb_array", camera="top")
    env = jacwrap.make(NAME, render_mode="rgb_array", camera="lookatcart")
    with pytest.raises(gym.error.ResetNeeded):
        env.render()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert jacwrap.make(NAME).render() is None  # no render_mode: Gymnasium's warning
    assert any("render_mode" in str(w.message) for w in caught)
