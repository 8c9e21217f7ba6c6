"""The long-running commands: ``run`` (headless video), ``serve`` (the endpoint) and ``bench`` (the study)."""

from __future__ import annotations

import argparse

from app.cli.context import Context


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    from app.run import run_headless

    return run_headless(ctx, args)


def cmd_serve(ctx: Context, args: argparse.Namespace) -> int:
    from core.deploy.server import serve

    return int(serve(ctx, args))


def cmd_bench(ctx: Context, args: argparse.Namespace) -> int:
    from app.bench import run_bench

    return int(run_bench(ctx, args))
