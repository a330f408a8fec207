"""The replay app: plays back a jacwrap recording's Jacobians, sparsity and run statistics.

All file reads and statistics run in thread workers (one exclusive group per kind of
work) that post :mod:`tui.messages` back to the UI thread; the UI only renders what is
already in memory. Decoding is :mod:`jacwrap.recording`'s and statistics are
:mod:`jacwrap.episode_stats`' (through :class:`tui.source.RecordingSource`).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from .episode import Cancelled, EpisodeView
from .messages import (
    BlockLoaded,
    EpisodeLoaded,
    FitsFound,
    OpenFailed,
    ReadFailed,
    RecordingOpened,
    RobotFrame,
    RobotUnavailable,
    describe_error,
)
from .playback import (
    DEFAULT_SPEED_INDEX,
    SPEEDS,
    change_speed,
    clamp_step,
    playback_target,
    tick_plan,
)
from .robot import RobotRenderer, RobotRequest, unavailable_message
from .screens.episodes import EpisodePicker
from .screens.error import ErrorScreen
from .screens.help import HelpScreen
from .screens.seek import SeekScreen
from .source import RecordingSource
from .widgets.bars import SparsityBars
from .widgets.contacts import ContactsPanel, render_contacts
from .widgets.fit import FitPanel, render_fit
from .widgets.heatmap import HeatmapData, JacobianHeatmap
from .widgets.robot import RobotView, half_blocks
from .widgets.stats import EpisodePanel, SelectedPanel, render_episode, render_selected
from .widgets.trace import EpisodeTrace

STEP = Binding.Group("step", compact=True)
ENDS = Binding.Group("jump", compact=True)
SPEED = Binding.Group("speed", compact=True)
EPISODE = Binding.Group("ep", compact=True)
CELL = Binding.Group("cell", compact=True)


def find_fits(path: Path) -> list[Any]:
    """The valid fit summaries in the recording's fits folder (``[]`` when there are none)."""
    from jacwrap.fit.summary import find_fit_summaries

    return find_fit_summaries(path)


class ReplayApp(App[None]):
    """Terminal replay of one recording (``jacwrap replay FILE``)."""

    CSS_PATH = "app.tcss"
    TITLE = "jacwrap replay"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS = [
        Binding("space", "toggle_play", "play", key_display="␣", tooltip="play / pause"),
        Binding("left", "step(-1)", "back", group=STEP, tooltip="step back one step"),
        Binding("right", "step(1)", "forward", group=STEP, tooltip="step forward one step"),
        Binding(
            "home",
            "jump(0)",
            "start",
            group=ENDS,
            key_display="home",
            tooltip="jump to the episode's start",
        ),
        Binding(
            "end",
            "jump(-1)",
            "end",
            group=ENDS,
            key_display="/end",
            tooltip="jump to the episode's end",
        ),
        Binding("g", "seek", "go", tooltip="go to a step (37) or a % (50%)"),
        Binding(
            "minus", "speed(-1)", "slower", group=SPEED, key_display="-", tooltip="play slower"
        ),
        Binding(
            "plus,equals_sign",
            "speed(1)",
            "faster",
            group=SPEED,
            key_display="+",
            tooltip="play faster",
        ),
        Binding("p", "episode(-1)", "previous", group=EPISODE, tooltip="previous episode"),
        Binding("n", "episode(1)", "next", group=EPISODE, tooltip="next episode"),
        Binding("e", "pick_episode", "list", tooltip="episode picker"),
        Binding("h", "cell(0,-1)", "left", group=CELL, tooltip="heatmap cursor left"),
        Binding("j", "cell(1,0)", "down", group=CELL, tooltip="heatmap cursor down"),
        Binding("k", "cell(-1,0)", "up", group=CELL, tooltip="heatmap cursor up"),
        Binding("l", "cell(0,1)", "right", group=CELL, tooltip="heatmap cursor right"),
        Binding(
            "r",
            "toggle_robot",
            "robot",
            show=False,  # the footer keeps to one line at 80 columns; ? lists it
            tooltip="robot view (the step's pose)",
        ),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(
        self,
        path: str | Path,
        opener: Callable[[str | Path], Any] | None = None,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.opener = opener
        self.source: RecordingSource | None = None
        self.view: EpisodeView | None = None
        self.episode_index = 0
        self.t = 0
        self.playing = False
        self.speed_index = DEFAULT_SPEED_INDEX
        self.fits: list[Any] = []
        self.loading_episode = False
        self.open_error: str | None = None  # the message when the file could not be opened
        self._timer: Timer | None = None
        self._anchor: tuple[int, float] = (0, 0.0)  # (step, time) playback started from
        self._wanted_block: int | None = None
        self.robot_on = False
        self.robot: RobotRenderer | None = None
        self.robot_error: str | None = None  # why the robot view cannot render, once known
        self._robot_busy = False  # a robot worker is rendering
        self._robot_pending: RobotRequest | None = None  # the latest frame wanted meanwhile

    # ---------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield Static(f" {self.path.name} · opening…", id="status", markup=False)
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield JacobianHeatmap(id="heatmap")
                with Vertical(id="robot-box"):
                    yield Static("Robot view", id="robot-title", classes="title")
                    yield Static("", id="robot-message")
                    yield RobotView(id="robot")
            with Vertical(id="right"):
                yield Static("Step sparsity (share of zeros)", classes="title")
                yield SparsityBars("", id="bars")
                yield Static("Contacts (this step)", classes="title")
                yield ContactsPanel("", id="contacts")
                yield SelectedPanel("", id="selected")
                yield Static("Episode runs (steps)", classes="title")
                yield EpisodePanel("", id="episode")
                yield Static("MLP fits: mse, learned/target", classes="title")
                yield FitPanel(render_fit(None), id="fit")
        yield EpisodeTrace(id="trace")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        # Kept once: per-step updates never query the DOM (and are harmless during teardown).
        self.w_status = self.query_one("#status", Static)
        self.w_heatmap = self.query_one(JacobianHeatmap)
        self.w_bars = self.query_one(SparsityBars)
        self.w_contacts = self.query_one(ContactsPanel)
        self.w_selected = self.query_one(SelectedPanel)
        self.w_episode = self.query_one(EpisodePanel)
        self.w_fit = self.query_one(FitPanel)
        self.w_trace = self.query_one(EpisodeTrace)
        self.w_robot = self.query_one(RobotView)
        self.w_robot_box = self.query_one("#robot-box")
        self.w_robot_title = self.query_one("#robot-title", Static)
        self.w_robot_message = self.query_one("#robot-message", Static)
        self._restart_timer()
        # Everything imported so far (JAX, MuJoCo, Textual: millions of objects) lives as long
        # as the process; without this, full collections walk it all and stall playback for
        # 0.1-1 s every few seconds (measured on CheetahRun-sized recordings).
        gc.freeze()
        self.open_worker()

    def on_unmount(self) -> None:
        if self.source is not None:
            self.source.close()
        if self.robot is not None:
            self.robot.close()

    # ---------------------------------------------------------------- workers
    @work(thread=True, exclusive=True, group="open")
    def open_worker(self) -> None:
        """Open the file (header and index only) and look for fit summaries."""
        try:
            source = RecordingSource.open(self.path, self.opener)
        except Exception as exc:  # every failure becomes the error screen
            self.post_message(OpenFailed(describe_error(exc)))
            return
        self.post_message(RecordingOpened(source))
        try:
            fits = find_fits(source.path)
        except Exception:  # a broken summary must not stop the replay
            fits = []
        self.post_message(FitsFound(fits))

    @work(thread=True, exclusive=True, group="episode")
    def episode_worker(self, index: int, t: int) -> None:
        """Stream one episode, compute its run statistics, read the block of step ``t``."""
        worker = get_current_worker()
        source = self.source
        assert source is not None
        try:
            view = source.load_episode(index, cancelled=lambda: worker.is_cancelled)
            t = clamp_step(t, view.length)
            source.load_block(source.block_of(view.start + t))
        except Cancelled:
            return
        except Exception as exc:
            self.post_message(ReadFailed(describe_error(exc)))
            return
        if not worker.is_cancelled:
            self.post_message(EpisodeLoaded(view, t))

    @work(thread=True, exclusive=True, group="block")
    def block_worker(self, block: int) -> None:
        """Read one block of Jacobian values into the cache."""
        try:
            self.source.load_block(block)
        except Exception as exc:
            self.post_message(ReadFailed(describe_error(exc)))
            return
        self.post_message(BlockLoaded(block))

    @work(thread=True, group="robot")
    def robot_worker(self, request: RobotRequest) -> None:
        """Render one robot-view frame and turn it into half-block text (off the UI thread)."""
        robot = self.robot
        assert robot is not None
        try:
            lines = half_blocks(robot.render(request))
        except Exception as exc:  # no OpenGL backend, unknown task: the panel says so
            self.post_message(RobotUnavailable(unavailable_message(exc, robot.env_name)))
            return
        self.post_message(RobotFrame(request.t, lines))

    @work(thread=True, exclusive=True, group="prefetch")
    def prefetch_worker(self, block: int) -> None:
        """Read the block after the current one ahead of playback (errors wait for later)."""
        try:
            self.source.load_block(block)
        except Exception:
            return

    # ---------------------------------------------------------------- messages
    @on(RecordingOpened)
    def _opened(self, message: RecordingOpened) -> None:
        self.source = message.source
        if message.source.truncated_tail:
            self.push_screen(
                ErrorScreen(
                    "Truncated recording", str(message.source.truncated_tail), can_continue=True
                )
            )
        if not message.source.num_episodes:
            self.push_screen(
                ErrorScreen("Empty recording", f"{self.path}: the recording has no steps")
            )
            return
        self.load_episode(0)

    @on(OpenFailed)
    def _open_failed(self, message: OpenFailed) -> None:
        self.open_error = message.message
        self.w_status.update(f" {self.path.name} · cannot open")
        self.w_heatmap.set_placeholder("no recording")
        self.w_trace.set_placeholder("")
        self.push_screen(ErrorScreen("Cannot open recording", message.message))

    @on(ReadFailed)
    def _read_failed(self, message: ReadFailed) -> None:
        self.loading_episode = False
        if self.view is not None:  # stay on the episode that is shown
            self.episode_index = self.view.index
        self._pause()
        self.push_screen(ErrorScreen("Cannot read recording", message.message, can_continue=True))

    @on(EpisodeLoaded)
    def _episode_loaded(self, message: EpisodeLoaded) -> None:
        if message.view.index != self.episode_index:
            return  # a superseded request (the user moved on to another episode)
        self.loading_episode = False
        self.view = message.view
        self.episode_index = message.view.index
        self.w_trace.set_episode(message.view.sparsity, message.view.reward, message.view.contacts)
        self.w_episode.update(render_episode(message.view))
        self.goto(message.t)

    @on(BlockLoaded)
    def _block_loaded(self, message: BlockLoaded) -> None:
        if self.view is not None and self._wanted_block == message.block:
            self._wanted_block = None
            self.show_step()

    @on(FitsFound)
    def _fits_found(self, message: FitsFound) -> None:
        self.fits = message.summaries
        self.w_fit.update(render_fit(self.fits))

    @on(RobotFrame)
    def _robot_frame(self, message: RobotFrame) -> None:
        self._robot_busy = False
        if self.robot_on:
            self.w_robot.show_lines(message.lines)
            self.w_robot_title.update(f"Robot view · step {message.t}", layout=False)
        pending, self._robot_pending = self._robot_pending, None
        if pending is not None and self.robot_on:
            self._start_robot(pending)

    @on(RobotUnavailable)
    def _robot_unavailable(self, message: RobotUnavailable) -> None:
        self._robot_busy = False
        self._robot_pending = None
        self.robot_error = message.message
        self.w_robot_title.update("Robot view")
        self.w_robot_message.update(message.message)
        self.w_robot_message.display = True
        self.w_robot.display = False

    # ---------------------------------------------------------------- state
    def load_episode(self, index: int, t: int = 0) -> None:
        """Start loading episode ``index`` (shown at step ``t`` when ready)."""
        self.loading_episode = True
        self.episode_index = index
        self._update_status()
        self.episode_worker(index, t)

    def goto(self, t: int) -> None:
        """Show step ``t`` of the current episode (clamped)."""
        if self.view is None:
            return
        self.t = clamp_step(t, self.view.length)
        self.show_step()

    def step_data(self) -> HeatmapData | None:
        """The current step's Jacobians from the block cache, or ``None`` when not cached."""
        if self.view is None or self.source is None:
            return None
        hit = self.source.cached_step(self.view.start + self.t)
        if hit is None:
            return None
        steps, k = hit
        header = self.source.header
        return HeatmapData(
            jac_state=steps.jac_state[k],
            jac_action=steps.jac_action[k],
            zero_state=steps.zero_state[k],
            zero_action=steps.zero_action[k],
            state_labels=list(header.state_labels),
            action_labels=list(header.action_labels),
        )

    def show_step(self) -> None:
        """Render everything for the current step (no file access: misses go to a worker)."""
        view = self.view
        if view is None:
            return
        t = self.t
        self._update_status()
        self.w_bars.show(view.sparsity[t])
        self.w_contacts.update(self.contacts_text(t), layout=False)
        self.w_trace.set_step(t)
        data = self.step_data()
        heatmap = self.w_heatmap
        if data is None:  # never show another step's values: blank until the block is read
            heatmap.set_data(None)
            self._wanted_block = self.source.block_of(view.start + t)
            self.block_worker(self._wanted_block)
        else:
            heatmap.set_data(data)
            self._maybe_prefetch()
        row, col = heatmap.cursor
        self.w_selected.update(render_selected(data, view, row, col, t), layout=False)
        self.request_robot_frame()

    def contacts_text(self, t: int):
        """The contacts panel of step ``t`` of the current episode."""
        view = self.view
        if view is None or self.source is None or not view.has_contacts:
            return render_contacts(None, None, None, None, 32)
        return render_contacts(
            self.source.header.contact_pairs,
            view.contacts[t],
            int(view.n_contacts[t]),
            int(view.n_constraints[t]),
            32,
        )

    def request_robot_frame(self) -> None:
        """Ask for the current step's robot frame; one worker at a time, the latest step wins."""
        if not self.robot_on or self.robot_error is not None or self.view is None:
            return
        hit = self.source.cached_step(self.view.start + self.t)
        if hit is None:  # the block is being read: show_step runs again when it is in
            return
        steps, k = hit
        width, height = self.w_robot.pixel_size()
        request = RobotRequest(self.t, np.array(steps.state[k]), width, height)
        if self._robot_busy:
            self._robot_pending = request
        else:
            self._start_robot(request)

    def _start_robot(self, request: RobotRequest) -> None:
        if self.robot is None:
            header = self.source.header
            self.robot = RobotRenderer(header.env_name, header.nq, header.nv)
        self._robot_busy = True
        self.robot_worker(request)

    def _maybe_prefetch(self) -> None:
        source, view = self.source, self.view
        k = view.start + self.t
        block = source.block_of(k)
        end = min(view.start + view.length, (block + 1) * source.block_steps)
        near_end = end - k <= source.block_steps // 2
        if end < view.start + view.length and near_end and not source.is_cached(block + 1):
            self.prefetch_worker(block + 1)

    def _update_status(self) -> None:
        status = self.w_status
        if self.source is None:
            return
        header = self.source.header
        n_eps = self.source.num_episodes
        play = "PLAY" if self.playing else "PAUSE"
        if self.view is None or self.loading_episode:
            pos = "loading episode…"
        else:
            pos = f"step {self.t}/{self.view.length - 1}"
        status.update(
            f" {header.env_name} · ep {self.episode_index}/{n_eps - 1} · {pos}"
            f" · {play} {SPEEDS[self.speed_index]}/s · {self.path.name}",
            layout=False,
        )

    # ---------------------------------------------------------------- playback
    def _restart_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        interval, _ = tick_plan(SPEEDS[self.speed_index])
        self._reanchor()
        self._timer = self.set_interval(interval, self._tick, pause=not self.playing)

    def _reanchor(self) -> None:
        self._anchor = (self.t, time.monotonic())

    def _pause(self) -> None:
        self.playing = False
        if self._timer is not None:
            self._timer.pause()
        self._update_status()

    def _tick(self) -> None:
        view = self.view
        if view is None or self.loading_episode or self._wanted_block is not None:
            self._reanchor()  # wait for data rather than show a step without its Jacobians
            return
        if self.t >= view.length - 1:
            self._pause()
            return
        step, since = self._anchor
        target = playback_target(step, time.monotonic() - since, SPEEDS[self.speed_index])
        if target > self.t:
            self.goto(target)

    # ---------------------------------------------------------------- actions
    def action_toggle_play(self) -> None:
        if self.view is None:
            return
        if self.playing:
            self._pause()
            return
        if self.t >= self.view.length - 1:
            self.goto(0)
        self.playing = True
        self._reanchor()
        self._timer.resume()
        self._update_status()

    def action_step(self, delta: int) -> None:
        self._pause()
        self.goto(self.t + delta)

    def action_jump(self, where: int) -> None:
        if self.view is not None:
            self.goto(0 if where == 0 else self.view.length - 1)

    def action_speed(self, delta: int) -> None:
        self.speed_index = change_speed(self.speed_index, delta)
        self._restart_timer()
        self._update_status()

    def action_episode(self, delta: int) -> None:
        if self.source is None:
            return
        index = self.episode_index + delta
        if 0 <= index < self.source.num_episodes:
            self._pause()
            self.load_episode(index)

    def action_pick_episode(self) -> None:
        if self.source is None:
            return

        def picked(index: int | None) -> None:
            if index is not None:
                self._pause()
                self.load_episode(index)

        self.push_screen(EpisodePicker(self.source.episodes, self.episode_index), picked)

    def action_seek(self) -> None:
        if self.view is None:
            return

        def chosen(step: int | None) -> None:
            if step is not None:
                self.goto(step)

        self.push_screen(SeekScreen(self.view.length), chosen)

    def action_cell(self, drow: int, dcol: int) -> None:
        heatmap = self.w_heatmap
        heatmap.move_cursor(drow, dcol)
        if self.view is not None:
            row, col = heatmap.cursor
            self.w_selected.update(render_selected(self.step_data(), self.view, row, col, self.t))

    def action_toggle_robot(self) -> None:
        self.robot_on = not self.robot_on
        self.w_robot_box.display = self.robot_on
        if not self.robot_on:
            self._robot_pending = None
            return
        if self.robot is None:
            self.w_robot_title.update("Robot view · loading the model (MuJoCo Playground)…")
        self.call_after_refresh(self.request_robot_frame)  # the panel has its size then

    def action_help(self) -> None:
        self.push_screen(HelpScreen(list(self.BINDINGS)))

    # ---------------------------------------------------------------- introspection
    @property
    def ready(self) -> bool:
        """True when the current step is fully shown (episode and its Jacobians loaded)."""
        return (
            self.view is not None
            and not self.loading_episode
            and self._wanted_block is None
            and self.step_data() is not None
        )

    def shown(self, widget_id: str) -> str:
        """Plain text that the widget ``#widget_id`` shows now (for tests and debugging)."""
        widget = self.query_one(f"#{widget_id}")
        if isinstance(widget, JacobianHeatmap):
            return widget.text()
        return str(widget.content) if isinstance(widget, Static) else str(widget.render())


def run(path: str | Path) -> int:
    """Run the app on ``path`` in this terminal; returns the exit status (2: cannot open)."""
    app = ReplayApp(path)
    app.run()
    return 2 if app.open_error is not None else 0
