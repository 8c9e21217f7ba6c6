"""The bench's figures (matplotlib, Agg): per-stage times, FPS by resolution, memory, energy and agreement
with the TensorFlow reference, one PNG each; a figure with nothing measured is not drawn."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

STAGE_COLORS = {"detect": "#4C72B0", "recognize": "#DD8452", "network": "#8C8C8C"}
ROLE_COLORS = {"reference": "#55A868", "facegate": "#4C72B0", "baseline": "#8C8C8C"}

Rows = Sequence[dict[str, Any]]


def _barh_height(n: int) -> float:
    return max(2.6, 0.34 * n + 1.4)


def write_figures(rows: Rows, out: Path) -> dict[str, str]:
    """PNG figures (Agg); returns {figure file: caption}. Figures with nothing measured are not drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs: dict[str, str] = {}
    resolutions = sorted({r["resolution"] for r in rows})
    ok = [r for r in rows if r.get("avg_fps")]
    if not ok:
        return figs
    for draw in (_stage_times, _fps_by_resolution, _memory, _energy, _accuracy):
        fig, name, caption = draw(plt, ok, resolutions)
        if fig is None:
            continue
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        figs[name] = caption
    return figs


def _stage_times(plt: Any, ok: Rows, resolutions: list[int]) -> tuple[Any, str, str]:
    """Per-stage time by runtime, one panel per resolution, the same rows in each."""
    labels = list(dict.fromkeys(r["label"] for r in ok))[::-1]
    fig, axes = plt.subplots(
        1,
        len(resolutions),
        figsize=(4.2 * len(resolutions) + 3.2, _barh_height(len(labels)) + 0.4),
        sharey=True,
        squeeze=False,
    )
    for ax, res in zip(axes[0], resolutions, strict=True):
        _stage_panel(ax, {r["label"]: r for r in ok if r["resolution"] == res}, labels)
        ax.set_title(f"{res}p")
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8, frameon=False)
    fig.suptitle("Per-stage time by runtime (lower is better)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig, "fig_stage_times.png", "Mean detection and recognition time per frame, by configuration"


def _stage_panel(ax: Any, at: dict[str, dict[str, Any]], labels: list[str]) -> None:
    """Stacked bars (detection, recognition, endpoint round trip) of one resolution's rows ``at``."""
    det, rec, net = [], [], []
    for lb in labels:
        r = at.get(lb, {})
        d, c = r.get("avg_detect_ms") or 0.0, r.get("avg_recognize_ms") or 0.0
        n = r.get("avg_network_ms") or 0.0
        # the endpoint round trip is inside detection (cloud: the frame goes up) or recognition
        # (hybrid: the crops go up); drawn as its own segment so the local parts stay visible
        if r.get("mode") == "cloud":
            d = max(d - n, 0.0)
        elif n:
            c = max(c - n, 0.0)
        det.append(d)
        rec.append(c)
        net.append(n)
    y = list(range(len(labels)))
    ax.barh(y, det, color=STAGE_COLORS["detect"], label="detection")
    ax.barh(y, rec, left=det, color=STAGE_COLORS["recognize"], label="recognition (embed + match)")
    if any(net):
        ax.barh(
            y,
            net,
            left=[d + c for d, c in zip(det, rec, strict=True)],
            color=STAGE_COLORS["network"],
            hatch="//",
            label="endpoint round trip (network + remote inference)",
        )
    totals = [d + c + n for d, c, n in zip(det, rec, net, strict=True)]
    for i, lb in enumerate(labels):
        if lb in at:
            ax.text(totals[i], i, f" {totals[i]:.0f}", va="center", fontsize=8)
    ax.set_xlim(0, max(totals, default=1.0) * 1.15 or 1.0)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("ms per frame (mean)")
    ax.grid(axis="x", alpha=0.3)


def _fps_by_resolution(plt: Any, ok: Rows, resolutions: list[int]) -> tuple[Any, str, str]:
    """FPS against resolution, a line per configuration; bars when only one resolution was measured."""
    name = "fig_fps_by_resolution.png"
    if len(resolutions) == 1:
        return _fps_bars(plt, ok, resolutions[0])
    fig, ax = plt.subplots(figsize=(9.5, 5.2))
    by_cfg: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in ok:
        by_cfg[r["label"]].append(r)
    styles = {"local": "-", "cloud": ":", "hybrid": "--"}
    for label, rs in by_cfg.items():
        rs.sort(key=lambda r: r["resolution"])
        base = rs[0]["role"] == "baseline"
        ax.plot(
            [r["resolution"] for r in rs],
            [r["avg_fps"] for r in rs],
            marker="o",
            linestyle=styles.get(rs[0]["mode"], "-"),
            linewidth=2.5 if base else 1.5,
            color="black" if base and "TF/TF" in label else "dimgray" if base else None,
            label=label,
        )
    ax.set_xticks(resolutions, [f"{r}p" for r in resolutions])
    ax.set_xlabel("resolution")
    ax.set_ylabel("FPS (frames / processing time)")
    fps = [r["avg_fps"] for r in ok]
    if max(fps) / max(min(fps), 1e-9) > 8:  # baselines and fast runtimes differ by 10x and more
        from matplotlib.ticker import FuncFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        # label the 2s and 5s between the decades, not every minor tick
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))
        ax.tick_params(axis="y", which="minor", labelsize=7)
    else:
        ax.set_ylim(0, max(fps) * 1.1)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title("FPS by resolution")
    fig.tight_layout()
    return fig, name, "FPS by resolution (dotted: cloud, dashed: hybrid; baselines in black and grey)"


def _fps_bars(plt: Any, ok: Rows, resolution: int) -> tuple[Any, str, str]:
    """FPS by configuration at the one resolution measured."""
    sel = ok[::-1]
    fig, ax = plt.subplots(figsize=(9.5, _barh_height(len(sel))))
    ax.barh(range(len(sel)), [r["avg_fps"] for r in sel], color=[ROLE_COLORS[r["role"]] for r in sel])
    for i, r in enumerate(sel):
        ax.text(r["avg_fps"], i, f" {r['avg_fps']:.1f}", va="center", fontsize=8)
    ax.set_yticks(range(len(sel)), [r["label"] for r in sel], fontsize=8)
    ax.set_xlabel("FPS (frames / processing time)")
    ax.margins(x=0.1)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"FPS at {resolution}p (green: TF reference, grey: baselines)")
    fig.tight_layout()
    caption = f"FPS at {resolution}p by configuration (the only resolution measured)"
    return fig, "fig_fps_by_resolution.png", caption


def _memory(plt: Any, ok: Rows, resolutions: list[int]) -> tuple[Any, str, str]:
    """Peak RSS (and GPU memory where measured) of each worker process, local mode, highest resolution."""
    top = max(resolutions)
    sel = [r for r in ok if r["mode"] == "local" and r["resolution"] == top and r.get("rss_mb")][::-1]
    if not sel:
        return None, "", ""
    gpu = any(r.get("gpu_mem_mb") for r in sel)
    fig, axes = plt.subplots(
        1, 2 if gpu else 1, figsize=(11 if gpu else 8.5, _barh_height(len(sel))), squeeze=False
    )
    ax = axes[0][0]
    ax.barh(range(len(sel)), [r["rss_mb"] for r in sel], color=[ROLE_COLORS[r["role"]] for r in sel])
    for i, r in enumerate(sel):
        ax.text(r["rss_mb"], i, f" {r['rss_mb']:.0f}", va="center", fontsize=8)
    ax.set_yticks(range(len(sel)), [r["label"] for r in sel], fontsize=8)
    ax.set_xlabel("peak RSS of the process, MiB")
    ax.margins(x=0.1)
    ax.grid(axis="x", alpha=0.3)
    if gpu:
        ax2 = axes[0][1]
        ax2.barh(range(len(sel)), [r.get("gpu_mem_mb") or 0 for r in sel], color="#C44E52")
        ax2.set_yticks(range(len(sel)), [""] * len(sel))
        ax2.set_xlabel("peak GPU memory, MiB")
        ax2.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Memory by runtime ({top}p, local; each configuration in its own process)")
    fig.tight_layout()
    return fig, "fig_memory.png", f"Peak memory by runtime at {top}p (local mode)"


def _energy(plt: Any, ok: Rows, resolutions: list[int]) -> tuple[Any, str, str]:
    """Energy per frame by runtime, only where a sensor measured it."""
    sel = [r for r in ok if r.get("energy_j_per_frame") is not None][::-1]
    if not sel:
        return None, "", ""
    fig, ax = plt.subplots(figsize=(8.5, _barh_height(len(sel))))
    ax.barh(
        range(len(sel)),
        [r["energy_j_per_frame"] for r in sel],
        color=[ROLE_COLORS[r["role"]] for r in sel],
    )
    ax.set_yticks(range(len(sel)), [f"{r['label']} {r['resolution']}p" for r in sel], fontsize=8)
    ax.set_xlabel("J per frame")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Energy by runtime")
    fig.tight_layout()
    return fig, "fig_energy.png", "Energy per frame by runtime (measured power x processing time)"


def _accuracy(plt: Any, ok: Rows, resolutions: list[int]) -> tuple[Any, str, str]:
    """Correctness next to speed: face count drift, faces found and identities vs the TF reference."""
    sel = [r for r in ok if r.get("matched_pct") is not None and r["role"] != "reference"][::-1]
    if not sel:
        return None, "", ""
    fig, axes = plt.subplots(1, 3, figsize=(13, _barh_height(len(sel)) + 0.3), sharey=True)
    labels = [f"{r['label']} {r['resolution']}p" for r in sel]
    colors = [ROLE_COLORS[r["role"]] for r in sel]
    drift = [r.get("face_drift_pct") or 0.0 for r in sel]
    axes[0].barh(range(len(sel)), drift, color=colors)
    axes[0].axvline(0, color="black", linewidth=0.8)
    span = max(10.0, *(abs(d) * 1.6 for d in drift))
    axes[0].set_xlim(-span, span)
    for i, d in enumerate(drift):
        axes[0].text(d, i, f" {d:+.1f}% ", va="center", ha="left" if d >= 0 else "right", fontsize=8)
    axes[0].set_yticks(range(len(sel)), labels, fontsize=8)
    axes[0].set_xlabel("face count drift, %\n(the study saw up to 7% with TensorRT)")
    for ax, key, xlabel in (
        (axes[1], "matched_pct", "reference faces also found, %"),
        (axes[2], "identity_agree_pct", "same identity on those faces, %"),
    ):
        vals = [r.get(key) for r in sel]
        ax.barh(range(len(sel)), [v or 0.0 for v in vals], color=colors)
        for i, v in enumerate(vals):
            ax.text(v or 0.0, i, " n/a" if v is None else f" {v:.1f}%", va="center", fontsize=8)
        ax.set_xlim(0, 118)
        ax.set_xlabel(xlabel)
    for ax in axes:
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Agreement with the TensorFlow reference (MTCNN TF + FaceNet128 TF, same frames)")
    fig.tight_layout()
    caption = "Face count drift, faces found and identities vs the TensorFlow reference"
    return fig, "fig_accuracy.png", caption


def write_cameras_figure(rows: Rows, out: Path, single_stream: dict[str, float]) -> dict[str, str]:
    """``bench --cameras``: per-camera processed FPS and drop % against the number of cameras, with the
    20 FPS target, the 18 FPS / 10% bar and this machine's single-stream numbers beside them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from app.bench.constants import CAMERA_DROP_MAX, CAMERA_FPS_HOLD, CAMERA_FPS_TARGET

    counts = sorted({int(r["cameras"]) for r in rows})
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12.5, 5.0))
    cams = list(dict.fromkeys(r["camera"] for r in rows))
    for k, cam in enumerate(cams):
        mine = sorted((r for r in rows if r["camera"] == cam), key=lambda r: r["cameras"])
        xs = [int(r["cameras"]) + 0.06 * (k - (len(cams) - 1) / 2) for r in mine]  # side by side
        ax.plot(xs, [r["fps"] for r in mine], marker="o", linewidth=1, label=cam)
        ax2.plot(xs, [r["dropped_pct"] for r in mine], marker="o", linewidth=1, label=cam)
    worst = [min(r["fps"] for r in rows if r["cameras"] == n) for n in counts]
    ax.plot(counts, worst, color="black", linewidth=2, label="slowest camera")
    ax.axhline(CAMERA_FPS_TARGET, color="#55A868", linewidth=1.5, label=f"{CAMERA_FPS_TARGET:g} FPS (video)")
    ax.axhline(
        CAMERA_FPS_HOLD, color="#55A868", linestyle="--", linewidth=1, label=f"{CAMERA_FPS_HOLD:g} FPS bar"
    )
    x0 = counts[0] - 0.35 * max(1, (counts[-1] - counts[0]) / 4)  # the single-stream numbers, left of N=1
    for label, fps in single_stream.items():
        ax.plot([x0], [fps], marker="D", color="#8C8C8C", linestyle="none")
        ax.annotate(
            f"{fps:g}: {label}",
            (x0, fps),
            xytext=(6, 0),
            textcoords="offset points",
            fontsize=7,
            va="center",
            color="#555555",
        )
    ax.set_ylim(0, max([*single_stream.values(), CAMERA_FPS_TARGET, *(r["fps"] for r in rows)]) * 1.12)
    ax.set_ylabel("processed FPS per camera")
    ax.set_title("FPS per camera (720p, real time)")
    ax2.axhline(100 * CAMERA_DROP_MAX, color="#C44E52", linestyle="--", linewidth=1, label="10% bar")
    ax2.set_ylim(0, max(100 * CAMERA_DROP_MAX, *(r["dropped_pct"] for r in rows)) * 1.15)
    ax2.set_ylabel("frames dropped per camera, %")
    ax2.set_title("Dropped frames per camera")
    for a in (ax, ax2):
        a.set_xticks(counts, [str(n) for n in counts])
        a.set_xlabel("cameras in one process")
        a.grid(alpha=0.3)
    ax.set_xlim(x0 - 0.2 * max(1, (counts[-1] - counts[0]) / 4), counts[-1] + 0.4)
    ax2.set_xlim(ax.get_xlim())
    ax.legend(fontsize=7, loc="upper right")
    loads = [float(str(r[k]).split()[0]) for r in rows for k in ("load_before", "load_after") if r.get(k)]
    busy = f"; 1-min load average {min(loads):.1f}-{max(loads):.1f} during the runs" if loads else ""
    fig.suptitle(
        f"Several cameras in one process: {rows[0]['detector']} + {rows[0]['recognizer']}{busy}\n"
        "(grey diamonds: one stream, this machine's study rerun)",
        fontsize=10,
    )
    fig.tight_layout()
    name = "fig_cameras.png"
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    return {name: "Processed FPS and dropped frames per camera as cameras are added"}
