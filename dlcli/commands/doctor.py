"""``dlcli doctor``: what TensorFlow sees here and what ``auto`` settings would pick."""

from __future__ import annotations

import json

import typer


def _lines(r: dict) -> list[tuple[str, str]]:
    v = r["versions"]
    gpus = r["devices"]["gpus"]
    gpu_text = (
        "; ".join(
            f"{g['device']} {g['name']}"
            + (f" (cc {g['compute_capability']})" if g["compute_capability"] else "")
            for g in gpus
        )
        or "none"
    )
    rows = [
        ("dlcli", v["dlcli"]),
        ("Python", f"{v['python']} ({r['python_executable']})"),
        ("TensorFlow", v["tensorflow"]),
        ("Keras", v["keras"]),
        ("Platform", r["platform"]),
        ("CPU cores", str(r["cpu_count"])),
        ("CPU devices", ", ".join(r["devices"]["cpus"])),
        ("GPUs", gpu_text),
        ("TF built with CUDA", "yes" if r["built_with_cuda"] else "no"),
        ("CUDA / cuDNN", f"{r['cuda_version'] or '-'} / {r['cudnn_version'] or '-'}"),
        ("TF_CONFIG", r["tf_config"] or "not set"),
    ]
    auto = r["auto"]
    if "error" in auto:
        rows.append(("auto", auto["error"]))
    else:
        why = auto["reasons"]
        rows += [
            ("auto device", auto["device_label"]),
            (
                "auto strategy",
                f"{auto['strategy']} ({auto['replicas']} replica(s); {why['strategy']})",
            ),
            ("mixed precision", f"{auto['precision']} ({why['precision']})"),
            ("XLA jit_compile", f"{'on' if auto['jit_compile'] else 'off'} ({why['jit_compile']})"),
        ]
        rows += [("warning", w) for w in auto["warnings"]]
    if not r["built_with_cuda"]:
        rows.append(("hint", "this TensorFlow has no CUDA support: pip install 'dlcli[gpu]'"))
    elif not gpus:
        rows.append(
            (
                "hint",
                "TensorFlow has CUDA support but sees no GPU: check the NVIDIA "
                "driver (nvidia-smi) or install GPU wheels with pip install 'dlcli[gpu]'",
            )
        )
    return rows


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Show versions, visible devices (GPU name, compute capability), CUDA build info,
        and what `device/distribute/mixed_precision/jit_compile: auto` would choose here."""
        from dlcli.console import is_interactive, make_console
        from dlcli.devices.report import doctor_report

        report = doctor_report()
        if as_json:
            typer.echo(json.dumps(report, indent=2))
            return
        console = make_console()
        rows = _lines(report)
        if is_interactive(console):
            from rich.table import Table

            table = Table(title="dlcli doctor", show_header=False)
            table.add_column(style="bold")
            table.add_column()
            for key, value in rows:
                table.add_row(key, value)
            console.print(table)
        else:
            for key, value in rows:
                typer.echo(f"{key}: {value}")
