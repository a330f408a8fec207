"""The recording header: everything needed to interpret the data without the writing code.

Stored as UTF-8 JSON (see docs/FORMAT.md). :class:`RecordingHeader` is its typed view; the
JSON also holds a ``codec`` object describing the chunk layout, which the reader checks.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from jacwrap import schema
from jacwrap.recording import format
from jacwrap.recording.errors import NotARecordingError, RecordingError, over_limit

FORMAT_VERSION = 2
#: Versions this reader reads: 1 (no contact data) and 2 (``contact_pairs``, contact blocks).
READABLE_VERSIONS = (1, 2)
JAC_DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class RecordingHeader:
    """What a recording holds: env, dimensions, labels, threshold, dtypes and provenance.

    ``n = nq + nv`` (state), ``m = nu`` (action). ``state_labels`` (n) label the rows and
    columns of J_s; ``action_labels`` (m) the columns of J_a. ``threshold`` is the zero
    threshold of the stored zero masks and sparsity values. ``jac_dtype`` is the stored
    Jacobian dtype (``float64`` lossless; ``float32`` keeps masks computed in float64).
    ``contact_pairs`` (version 2) labels the candidate contact pairs of the per-step contact
    masks (``floor:bfoot``); None when the recording holds no contact data (every version 1
    file).
    """

    env_name: str
    nq: int
    nv: int
    nu: int
    obs_dim: int
    state_labels: tuple[str, ...]
    action_labels: tuple[str, ...]
    threshold: float
    jac_dtype: str = "float64"
    ctrl_dt: float = 0.0
    policy: str = ""
    seed: int | None = None
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    contact_pairs: tuple[str, ...] | None = None

    @property
    def n(self) -> int:
        return self.nq + self.nv

    @property
    def m(self) -> int:
        return self.nu

    @property
    def groups(self) -> tuple[str, ...]:
        """The field groups its steps carry (:data:`jacwrap.schema.GROUPS`)."""
        return ("core",) if self.contact_pairs is None else ("core", "contacts")

    @property
    def dims(self) -> schema.Dims:
        pairs = 0 if self.contact_pairs is None else len(self.contact_pairs)
        return schema.Dims(self.n, self.m, self.obs_dim, pairs)

    @property
    def blocks(self) -> tuple[schema.Block, ...]:
        """The payload blocks of its chunks, in order."""
        return schema.blocks_of(self.jac_dtype, self.groups)

    def __post_init__(self) -> None:
        if self.jac_dtype not in JAC_DTYPES:
            raise ValueError(f"jac_dtype must be one of {JAC_DTYPES}, got {self.jac_dtype!r}")
        if len(self.state_labels) != self.n:
            raise ValueError(f"{len(self.state_labels)} state labels for n = {self.n}")
        if len(self.action_labels) != self.m:
            raise ValueError(f"{len(self.action_labels)} action labels for m = {self.m}")
        if min(self.nq, self.nv, self.nu, self.obs_dim) < 0:
            raise ValueError("dimensions must be >= 0")
        if not self.threshold > 0:
            raise ValueError(f"threshold must be > 0, got {self.threshold}")
        if self.contact_pairs is not None and self.format_version < 2:
            raise ValueError("contact_pairs needs format version 2")

    def to_json_dict(self) -> dict[str, Any]:
        """The header's JSON object (``n`` and ``m`` included for readers without the code)."""
        d = asdict(self)
        d["state_labels"] = list(self.state_labels)
        d["action_labels"] = list(self.action_labels)
        if self.contact_pairs is None:
            del d["contact_pairs"]
        else:
            d["contact_pairs"] = list(self.contact_pairs)
        d["n"] = self.n
        d["m"] = self.m
        return d

    @classmethod
    def from_env_info(
        cls,
        info: Any,
        obs_dim: int,
        *,
        threshold: float,
        jac_dtype: str = "float64",
        policy: str = "",
        seed: int | None = None,
        extra: dict[str, Any] | None = None,
        contacts: bool = True,
    ) -> RecordingHeader:
        """Header for a :class:`jacwrap.envs.EnvInfo`, stamped with versions and time;
        with ``contacts``, its ``contact_pairs`` label the contact masks."""
        pairs = getattr(info, "contact_pairs", None) if contacts else None
        return cls(
            env_name=info.name,
            nq=info.nq,
            nv=info.nv,
            nu=info.nu,
            obs_dim=int(obs_dim),
            state_labels=tuple(info.state_labels),
            action_labels=tuple(info.action_labels),
            threshold=float(threshold),
            jac_dtype=jac_dtype,
            ctrl_dt=float(info.ctrl_dt),
            policy=policy,
            seed=seed,
            versions=software_versions(),
            created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            extra={"env_info": info.to_dict(), **(extra or {})},
            contact_pairs=None if pairs is None else tuple(pairs),
        )


def software_versions() -> dict[str, str]:
    """Versions of jacwrap, jax, mujoco, mujoco-mjx, playground, numpy and zstandard."""
    from importlib import metadata

    out = {}
    for dist in ("jacwrap", "jax", "mujoco", "mujoco-mjx", "playground", "numpy", "zstandard"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out


_INT_FIELDS = ("nq", "nv", "nu", "obs_dim", "format_version")


def check_dims(path: object, nq: int, nv: int, nu: int, obs_dim: int) -> None:
    """Raise :class:`LimitError` unless the dims are within the format's limits
    (docs/FORMAT.md, "Limits"): ``n = nq + nv``, ``m = nu`` and ``obs_dim``."""
    for what, value, limit in (
        ("n = nq + nv", nq + nv, format.MAX_STATE_DIM),
        ("m = nu", nu, format.MAX_ACTION_DIM),
        ("obs_dim", obs_dim, format.MAX_OBS_DIM),
    ):
        if value > limit:
            raise over_limit(path, "header", what, value, f"0..{limit}")


def encode_header(header: RecordingHeader, codec: dict[str, Any], path: object = "") -> bytes:
    """UTF-8 JSON bytes of the header with the chunk ``codec`` description; raises
    :class:`LimitError` for dims or a JSON size that a reader would refuse."""
    check_dims(path, header.nq, header.nv, header.nu, header.obs_dim)
    d = header.to_json_dict()
    d["codec"] = codec
    raw = json.dumps(d, sort_keys=True, allow_nan=False).encode("utf-8")
    if len(raw) > format.MAX_HEADER_LEN:
        raise over_limit(path, "header", "the JSON size", len(raw), f"<= {format.MAX_HEADER_LEN}")
    return raw


def decode_header(raw: bytes, path: str) -> tuple[RecordingHeader, dict[str, Any]]:
    """Parse header JSON; raises :class:`NotARecordingError` naming the bad field."""
    try:
        d = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # also numbers of over 4300 digits
        raise NotARecordingError(f"{path}: header is not valid JSON ({exc})") from None
    if not isinstance(d, dict):
        raise NotARecordingError(f"{path}: header is not a JSON object")

    def need(key: str, kind: type | tuple[type, ...]) -> Any:
        if key not in d:
            raise NotARecordingError(f"{path}: header lacks the field {key!r}")
        value = d[key]
        bad_bool = isinstance(value, bool) and kind in (int, float, (int, float))
        if not isinstance(value, kind) or bad_bool:
            raise NotARecordingError(f"{path}: header field {key!r} has the wrong type")
        return value

    try:
        for key in _INT_FIELDS:
            if need(key, int) < 0:
                raise NotARecordingError(f"{path}: header field {key!r} is negative")
        check_dims(path, d["nq"], d["nv"], d["nu"], d["obs_dim"])
        labels_s = need("state_labels", list)
        labels_a = need("action_labels", list)
        if not all(isinstance(x, str) for x in labels_s + labels_a):
            raise NotARecordingError(f"{path}: header labels must be strings")
        seed = d.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise NotARecordingError(f"{path}: header field 'seed' has the wrong type")
        versions = need("versions", dict)
        codec = need("codec", dict)
        pairs = d.get("contact_pairs")
        if pairs is not None and (
            not isinstance(pairs, list) or not all(isinstance(x, str) for x in pairs)
        ):
            raise NotARecordingError(
                f"{path}: header field 'contact_pairs' must be a list of strings"
            )
        if pairs is not None and len(pairs) > format.MAX_CONTACT_PAIRS:
            limit = f"0..{format.MAX_CONTACT_PAIRS}"
            raise over_limit(path, "header", "len(contact_pairs)", len(pairs), limit)
        header = RecordingHeader(
            env_name=need("env_name", str),
            nq=d["nq"],
            nv=d["nv"],
            nu=d["nu"],
            obs_dim=d["obs_dim"],
            state_labels=tuple(labels_s),
            action_labels=tuple(labels_a),
            threshold=float(need("threshold", (int, float))),
            jac_dtype=need("jac_dtype", str),
            ctrl_dt=float(need("ctrl_dt", (int, float))),
            policy=need("policy", str),
            seed=seed,
            versions={str(k): str(v) for k, v in versions.items()},
            created=need("created", str),
            extra=need("extra", dict),
            format_version=d["format_version"],
            contact_pairs=None if pairs is None else tuple(pairs),
        )
    except (ValueError, OverflowError) as exc:  # OverflowError: float() of a huge int
        if isinstance(exc, RecordingError):
            raise
        raise NotARecordingError(f"{path}: inconsistent header: {exc}") from None
    if d.get("n") != header.n or d.get("m") != header.m:
        raise NotARecordingError(f"{path}: header n/m do not match nq+nv/nu")
    return header, codec
