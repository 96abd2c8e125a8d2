"""Every ``dlcli`` command line in README.md and docs/*.md is exercised here.

A command line is a line of a fenced code block that runs ``dlcli`` (after a ``$`` prompt,
environment assignments, or inside ``bash -c "..."``). Each one is either

- in :data:`RUN`: run for real, as written, in a workspace that holds the shipped recipes
  and data plus small generated inputs (the photos, inboxes and label files the docs talk
  about). The only change: ``train`` commands train for 2 epochs (``--epochs`` added or
  replaced; more when the command's warm-up needs more), since the docs' epoch counts take
  minutes. Outputs the command names (``--out``, ``--errors``, ``--sort-into``, ``--graph``,
  ``> file``) and paths promised in its comment (``# -> path``, ``# writes path``) must exist;
- or in :data:`CHECKED`, with the reason it cannot run here (several machines): its flags are
  parsed by the real command-line parser and its recipe with its ``--set`` values is
  validated (the model built).

Inline mentions (`` `dlcli train --epochs 3` ``) are checked too: the command exists and
every ``--flag`` in them is one of its options. A new command line in the docs fails
:func:`test_every_docs_command_line_is_covered` until it is added to RUN or CHECKED.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO_ROOT, make_image_folder
from train_helpers import image_data, write_recipe

from dlcli.cli import main

Command = tuple[str, ...]
# docs/tuning.md's search and its PostgreSQL URL
TUNE_DIGITS = "dlcli tune recipes/digits.yaml --space recipes/spaces/digits.yaml"
POSTGRES_URL = "postgresql://tuner:secret@db-host:5432/studies"

# Command line as written in the docs -> expected exit code.
STAGES_SET = (
    '"train.stages=[{name: head, epochs: 3, trainable: {top: 1}}, '
    '{name: finetune, epochs: 7, trainable: all, learning_rate: 0.0002}]"'
)
RUN: dict[str, int] = {
    # README.md, docs/visualising.md
    "dlcli train recipes/digits.yaml --out runs/digits": 0,
    "dlcli inspect runs/digits --activations data/digits/test/3/digit_0045.png": 0,
    # docs/visualising.md
    "dlcli inspect runs/digits --filters conv2d": 0,
    "dlcli inspect recipes/digits.yaml --graph -": 0,
    "dlcli inspect runs/digits --graph model.png": 0,
    "dlcli runs": 0,
    "dlcli runs experiments/ --json": 0,
    "dlcli runs --compare runs/a runs/b runs/c --out compare.png": 0,
    "dlcli runs --compare runs/lr-sweep": 0,
    "dlcli explain runs/digits data/digits/test/8/digit_0028.png --out explain": 0,
    "dlcli report runs/digits": 0,
    "dlcli report runs/digits --out digits.html --top 24": 0,
    # docs/predict.md
    "dlcli predict runs/digits test_images/ --recursive --out preds.csv": 0,
    "dlcli predict model.keras 'photos/**/*.jpg' one.png more/ -r --labels labels.txt --top-k 5": 0,
    # inbox/ holds one broken image: exit 3 is "some files skipped", listed in skipped.csv
    "dlcli predict runs/digits inbox/ --sort-into sorted/ --link --errors skipped.csv": 3,
    "dlcli predict runs/digits inbox/ > preds.csv": 3,
    "dlcli evaluate runs/digits": 0,
    "dlcli evaluate runs/digits --data data/digits/test": 0,
    "dlcli evaluate model.keras --data test/ --labels labels.txt --json --out report/": 0,
    # docs/recipes.md
    "dlcli train recipes/lenet5.yaml --set train.epochs=3 "
    "--set train.optimizer.learning_rate=1e-4": 0,
    "dlcli validate recipes/lenet5.yaml --set model.layers[6].Dense.units=64": 0,
    "DLCLI_LOGICAL_CPUS=2 dlcli train recipes/lenet5.yaml "
    '--set "train.devices=[/cpu:0, /cpu:1]"': 0,
    # bad.yaml is written to give exactly the errors the doc shows (compared below)
    "dlcli validate bad.yaml --set train.optimizer=adamm": 2,
    # docs/recipes.md, "Starting from your data"
    "dlcli init data/digits --out digits_starter.yaml": 0,
    "dlcli init data/diabetes.csv --out diabetes.yaml": 0,
    # docs/recipes.md, "Block parameters": the ImageNet architectures (inspect only)
    "dlcli inspect recipes/resnet50.yaml": 0,
    "dlcli inspect recipes/mobilenetv2.yaml": 0,
    # docs/scaling.md (recipe.yaml: a small generated image recipe); the TF_CONFIG of the
    # multi-machine example is not set here: tests/test_distributed_multiworker.py runs two
    # workers on 127.0.0.1.
    "dlcli train recipe.yaml --set train.optimizer.learning_rate=0.004 "
    "--set train.lr_schedule.kind=cosine --set train.lr_schedule.warmup_epochs=2": 0,
    "dlcli train recipe.yaml": 0,
    "dlcli doctor": 0,
    # docs/training.md
    "dlcli train recipes/digits.yaml": 0,
    "dlcli train recipes/digits.yaml --out runs/d1 --epochs 20 --batch-size 64": 0,
    "dlcli train recipes/digits.yaml --set train.optimizer.learning_rate=0.001 "
    "--set data.augment=[]": 0,
    # docs/transfer.md (runs/transfer is made by the workspace, as runs/digits)
    "dlcli layers": 0,
    "dlcli layers MobileNetV2": 0,
    "dlcli inspect recipes/transfer_mobilenetv2.yaml "
    "--set model.layers[0].Backbone.trainable=false": 0,
    "dlcli train recipes/transfer_mobilenetv2.yaml --out runs/transfer": 0,
    "dlcli inspect runs/transfer --activations data/digits/test/3/digit_0045.png "
    "--out transfer_acts": 0,
    "dlcli train recipes/transfer_mobilenetv2.yaml --set model.init_from=runs/transfer "
    "--set train.optimizer.learning_rate=0.0002 --out runs/finetune": 0,
    # docs/transfer.md, "Training in stages" (2 epochs here: the head stage only)
    "dlcli inspect recipes/transfer_mobilenetv2.yaml --set " + STAGES_SET: 0,
    "dlcli train recipes/transfer_mobilenetv2.yaml --set " + STAGES_SET + " --out runs/staged": 0,
    # docs/text.md (runs/text_cnn is made by the workspace)
    "dlcli validate recipes/text_transformer.yaml": 0,
    "dlcli train recipes/text_cnn.yaml --out runs/text_cnn": 0,
    "dlcli predict runs/text_cnn data/fortunes/test.csv --text-column text --top-k 2 "
    "--out preds.csv": 0,
    "dlcli evaluate runs/text_cnn --data data/fortunes/test.csv": 0,
    "dlcli export runs/text_cnn --format saved_model": 0,
    # TFLite has no string ops: refused, naming the token-id alternative
    "dlcli export runs/text_cnn --format tflite": 2,
    "dlcli inspect runs/text_cnn": 0,
    'dlcli inspect runs/text_cnn --activations "my program crashed with a core dump" '
    "--out text_acts": 0,
    # docs/audio.md (runs/speech is made by the workspace)
    "dlcli train recipes/speech_cnn.yaml --out runs/speech": 0,
    "dlcli predict runs/speech data/speech/test/yes --out speech_preds.csv": 0,
    "dlcli evaluate runs/speech": 0,
    "dlcli inspect runs/speech --activations data/speech/test/yes/yes_000.wav --out speech_acts": 0,
    "dlcli export runs/speech --format tflite": 0,
    # the spectrogram's FFT has no ONNX conversion: refused, naming the layer
    "dlcli export runs/speech --format onnx": 2,
    # docs/tuning.md (tunes/digits is made by the workspace: 2 trials of 2 epochs here)
    TUNE_DIGITS + " --trials 8 --epochs 3": 0,
    "dlcli tune --show digits": 0,
    "dlcli runs --compare tunes/digits/trials": 0,
    "dlcli train tunes/digits/best.yaml --out runs/digits-best --epochs 15": 0,
}
# Run by the workspace fixture (other examples read their runs); the test checks the result.
MADE_BY_WORKSPACE = (
    "dlcli train recipes/digits.yaml --out runs/digits",
    "dlcli train recipes/transfer_mobilenetv2.yaml --out runs/transfer",
    "dlcli train recipes/text_cnn.yaml --out runs/text_cnn",
    "dlcli train recipes/speech_cnn.yaml --out runs/speech",
    TUNE_DIGITS + " --trials 8 --epochs 3",
)

# Command line -> why it cannot run here. Parsed and validated instead.
CHECKED: dict[str, str] = {
    "dlcli train recipe.yaml --workers host1:12345,host2:12345 --worker-index 0": (
        "joins a cluster of two machines (host1, host2)"
    ),
    "dlcli train recipe.yaml --workers host1:12345,host2:12345 --worker-index 1": (
        "joins a cluster of two machines (host1, host2)"
    ),
    "dlcli train recipe.yaml --workers $WORKERS --worker-index $SLURM_PROCID": (
        "a Slurm job over several nodes"
    ),
    # docs/tuning.md: tests/test_tune_postgres.py runs two workers on a real server
    TUNE_DIGITS + " --trials 8 --device gpu:0": "needs two GPUs",
    TUNE_DIGITS + " --trials 8 --device gpu:1": "needs two GPUs",
    TUNE_DIGITS + " --trials 200 --study digits-big --storage " + POSTGRES_URL: (
        "a PostgreSQL server on another machine"
    ),
    "dlcli tune --show digits-big --storage " + POSTGRES_URL: (
        "a PostgreSQL server on another machine"
    ),
}
# Values the Slurm script gives its variables, for parsing.
SHELL_VARIABLES = {"$WORKERS": "host1:12345,host2:12345", "$SLURM_PROCID": "0"}

_FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.S | re.M)
# Blocks of program output (```text): only lines after a ``$`` prompt are command lines there.
_OUTPUT_BLOCKS = ("text",)
_INLINE = re.compile(r"`(dlcli(?: [^`]*)?)`")
_ENV = re.compile(r"^[A-Z][A-Z0-9_]*=")


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    """``contextlib.chdir`` (Python 3.11+) for the 3.10 the project supports."""
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _doc_files() -> list[Path]:
    return [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]


def _commands_in_line(tokens: list[str]) -> list[Command]:
    """``dlcli`` invocations in one shell line: after env assignments, ``&&``/``;``/``|``,
    or inside ``bash -c "..."``."""
    found: list[Command] = []
    segment: list[str] = []
    for token in [*tokens, ";"]:
        if token not in ("&&", "||", ";", "|"):
            segment.append(token)
            continue
        start = 0
        while start < len(segment) and _ENV.match(segment[start]):
            start += 1
        if start < len(segment) and segment[start] == "dlcli":
            found.append(tuple(segment))
        segment = []
    for token in tokens:
        if token.startswith("dlcli "):
            found.append(tuple(shlex.split(token, comments=True)))
    return found


def doc_command_lines() -> dict[Command, str]:
    """Every command line in the docs' code blocks -> the file it is in."""
    found: dict[Command, str] = {}
    for path in _doc_files():
        for info, block in _FENCE.findall(path.read_text(encoding="utf-8")):
            output = info.strip() in _OUTPUT_BLOCKS
            for line in re.sub(r"\\\n\s*", " ", block).splitlines():
                line = line.strip()
                if output and not line.startswith("$ "):
                    continue  # a line the program printed, not one the reader types
                line = line.removeprefix("$ ")
                if "dlcli" not in line or line.startswith("#"):
                    continue
                for command in _commands_in_line(shlex.split(line, comments=True)):
                    found.setdefault(command, path.name)
    return found


def _key(text: str) -> Command:
    return tuple(shlex.split(text))


def _comment(command: Command) -> str:
    """The comment the docs put after this command line, if any."""
    for path in _doc_files():
        for line in path.read_text(encoding="utf-8").splitlines():
            if "#" in line and tuple(shlex.split(line, comments=True)) == command:
                return line.split("#", 1)[1].strip()
    return ""


# --------------------------------------------------------------------------- coverage


def test_every_docs_command_line_is_covered() -> None:
    found = doc_command_lines()
    covered = {_key(c) for c in [*RUN, *CHECKED]}
    missing = [f"{found[c]}: {shlex.join(c)}" for c in found if c not in covered]
    assert not missing, "docs command lines no test runs; add them to RUN or CHECKED:\n" + (
        "\n".join(missing)
    )
    stale = [c for c in [*RUN, *CHECKED] if _key(c) not in found]
    assert not stale, f"no longer in the docs: {stale}"
    assert not set(map(_key, RUN)) & set(map(_key, CHECKED))


def test_inline_mentions_name_real_commands_and_flags() -> None:
    import typer.main

    from dlcli.cli import build_app

    group = typer.main.get_command(build_app())
    checked = 0
    for path in _doc_files():
        text = _FENCE.sub("", path.read_text(encoding="utf-8"))
        for span in _INLINE.findall(text):
            words = span.split(" | ", 1)[0].split()[1:]
            if not words:
                continue
            name = words[0]
            if name.startswith("-") or name.isupper():  # `dlcli --help`, `dlcli CMD --help`
                options = {"--help", "-h", "--version"}
            else:
                assert name in group.commands, f"{path.name}: `{span}`: no command {name!r}"
                params = group.commands[name].params
                options = {o for p in params for o in (*p.opts, *p.secondary_opts)}
                options |= {"--help", "-h"}
            for word in words:
                flag = word.strip("[]").split("=", 1)[0].split("|", 1)[0]
                if flag.startswith("-") and flag != "-":
                    assert flag in options, f"{path.name}: `{span}`: {name} has no {flag}"
            checked += 1
    assert checked > 20


@pytest.mark.parametrize("command", sorted(CHECKED))
def test_multi_machine_command_lines_parse_and_validate(command: str, workspace: Path) -> None:
    import typer.main

    from dlcli.cli import build_app
    from dlcli.commands.validate import run_validate

    args = [SHELL_VARIABLES.get(word, word) for word in shlex.split(command)[1:]]
    group = typer.main.get_command(build_app())
    # The real parser: unknown flags or bad values raise here.
    with group.commands[args[0]].make_context(args[0], args[1:]) as ctx:
        params = ctx.params
    if args[0] == "tune":
        _check_tune_line(params, workspace)
        return
    assert params["worker_index"] in (0, 1)
    assert params["workers"] == SHELL_VARIABLES["$WORKERS"]
    with _chdir(workspace):
        assert run_validate(Path(args[1]), set_values=[]) == 0


def _check_tune_line(params: dict, workspace: Path) -> None:
    """A tune line that cannot run here: its space checked against its recipe."""
    from dlcli.commands.validate import run_validate
    from dlcli.tuning.space import check_against_recipe, read_space

    if params["show"]:
        assert params["storage"].startswith("postgresql://")
        return
    assert params["device"] in ("gpu:0", "gpu:1") or params["storage"].startswith("postgresql")
    with _chdir(workspace):
        check_against_recipe(read_space(params["space"]), params["recipe"], [])
        assert run_validate(params["recipe"], set_values=[]) == 0


# --------------------------------------------------------------------------- the workspace

BAD_RECIPE = """\
name: bad
model:
  input: [8, 8, 1]
  layers:
    - Conv2d: {filters: 4, kernel_size: 3}
    - Dense: {unit: 3}
train:
  epochs: ten
"""
CLASS_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _copy_images(sources: list[Path], folder: Path, suffix: str = ".png") -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, src in enumerate(sources):
        Image.open(src).convert("RGB" if suffix == ".jpg" else "L").save(
            folder / f"{src.parent.name}_{i}{suffix}"
        )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shipped recipes and data, and the inputs the docs' examples read."""
    ws = tmp_path_factory.mktemp("docs")
    (ws / "recipes").symlink_to(REPO_ROOT / "recipes")
    (ws / "data").symlink_to(REPO_ROOT / "data")
    test_images = sorted((REPO_ROOT / "data" / "digits" / "test").glob("*/*.png"))
    _copy_images(test_images[:3], ws / "test_images" / "a")
    _copy_images(test_images[3:5], ws / "test_images" / "a" / "b")
    _copy_images(test_images[5:8], ws / "photos" / "2024" / "trip", ".jpg")
    _copy_images(test_images[8:9], ws / "more")
    shutil.copy(test_images[9], ws / "one.png")
    _copy_images(test_images[10:14], ws / "inbox")
    (ws / "inbox" / "broken.png").write_bytes(b"not a png at all")
    for digit, word in enumerate(CLASS_WORDS):
        src = sorted((REPO_ROOT / "data" / "digits" / "test" / str(digit)).glob("*.png"))[:2]
        _copy_images(src, ws / "test" / word)
    (ws / "labels.txt").write_text("\n".join(CLASS_WORDS) + "\n", encoding="utf-8")
    (ws / "bad.yaml").write_text(BAD_RECIPE, encoding="utf-8")
    images = make_image_folder(ws / "images", per_class=6, size=16)
    write_recipe(
        ws / "recipe.yaml",
        data=image_data(images, validation_split=0.25),
        layers=[
            {"Rescaling": {"scale": 1 / 255}},
            {"Conv2D": {"filters": 4, "kernel_size": 3, "activation": "relu"}},
            {"Flatten": None},
            {"Dense": {"units": 2, "activation": "softmax"}},
        ],
    )
    # The README's main command makes the run the other examples read (so do transfer, text).
    for command in MADE_BY_WORKSPACE:
        result = _run(_key(command), ws)
        assert result.code == 0, result.err[-3000:]
    shutil.copy(ws / "runs" / "digits" / "best.keras", ws / "model.keras")
    for copy in ("runs/a", "runs/b", "runs/c", "runs/lr-sweep/lr1", "runs/lr-sweep/lr2"):
        shutil.copytree(ws / "runs" / "digits", ws / copy)
    shutil.copytree(ws / "runs" / "digits", ws / "experiments" / "digits")
    return ws


class _Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


def _train_epochs(command: Command) -> list[str]:
    """--epochs 2 (or past the command's warm-up), replacing the docs' epoch count."""
    args = list(command)
    warmup = [a.split("=", 1)[1] for a in args if a.startswith("train.lr_schedule.warmup_epochs=")]
    epochs = str(max([2, *(int(float(w)) + 1 for w in warmup)]))
    if "--epochs" in args:
        args[args.index("--epochs") + 1] = epochs
    else:
        args += ["--epochs", epochs]
    return args


def _run(command: Command, cwd: Path) -> _Result:
    env = {}
    words = list(command)
    while _ENV.match(words[0]):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    assert words[0] == "dlcli"
    args = words[1:]
    stdout_file = None
    if ">" in args:
        stdout_file = args[args.index(">") + 1]
        args = args[: args.index(">")]
    if args[0] == "train":
        args = _train_epochs(tuple(args))
    elif args[0] == "tune" and "--show" not in args:  # 2 trials of 2 epochs
        args = _train_epochs(tuple(args))
        args[args.index("--trials") + 1] = "2"
    if env:  # the variables must be set before TensorFlow starts: a fresh process
        full_env = {**os.environ, **env, "TF_CPP_MIN_LOG_LEVEL": "3"}
        full_env.pop("DLCLI_DEBUG", None)
        proc = subprocess.run(
            [sys.executable, "-m", "dlcli", *args],
            cwd=cwd,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )
        result = _Result(proc.returncode, proc.stdout, proc.stderr)
    else:
        out, err = io.StringIO(), io.StringIO()
        with (
            _chdir(cwd),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            code = main(args)
        result = _Result(code, out.getvalue(), err.getvalue())
    if stdout_file:
        (cwd / stdout_file).write_text(result.out, encoding="utf-8")
    return result


def _promised_outputs(command: Command) -> list[str]:
    """Files the command line names as outputs, or its comment promises."""
    args = list(command)
    outputs = []
    for flag in ("--out", "--errors", "--sort-into", ">"):
        if flag in args:
            outputs.append(args[args.index(flag) + 1])
    if "--graph" in args and args[args.index("--graph") + 1] != "-":
        outputs.append(args[args.index("--graph") + 1])
    comment = _comment(command)
    promised = re.match(r"(?:->|writes)\s+(\S+)", comment)
    if promised:
        outputs.append(re.sub(r"<[^>]+>", "*", promised.group(1)))
    return outputs


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(RUN))
def test_docs_command_line_runs(command: str, workspace: Path, tmp_path: Path) -> None:
    key = _key(command)
    if key in {_key(c) for c in MADE_BY_WORKSPACE}:
        cwd = workspace  # the workspace fixture ran it; check what it made
        result = _Result(0, "", "")
    else:
        # Each example starts from the workspace's inputs; its own outputs stay apart
        # (a training command gets its own runs/ folder, with links to the workspace's runs
        # it names, e.g. to warm start from).
        cwd = tmp_path
        for entry in workspace.iterdir():
            if key[key.index("dlcli") + 1] == "train" and entry.name == "runs":
                (cwd / "runs").mkdir()
                for run in entry.iterdir():
                    if f"runs/{run.name}" in shlex.join(key):
                        (cwd / "runs" / run.name).symlink_to(run)
            else:
                (cwd / entry.name).symlink_to(entry)
        result = _run(key, cwd)
    assert result.code == RUN[command], result.err[-3000:]
    for output in _promised_outputs(key):
        assert list(cwd.glob(output.rstrip("/"))), f"{command}: {output} was not written"
    _check_output(key, cwd, result)


def _check_output(command: Command, cwd: Path, result: _Result) -> None:
    """What a few examples promise beyond their files."""
    if command == _key("dlcli validate bad.yaml --set train.optimizer=adamm"):
        _matches_doc_transcript(result.err)
    elif "> preds.csv" in shlex.join(command).replace("'>'", ">"):
        rows = list(csv.reader(io.StringIO(result.out)))
        assert rows[0][0] == "path" and len(rows) == 1 + 4  # the 4 readable images
    elif command == _key("dlcli runs experiments/ --json"):
        assert [r["name"] for r in json.loads(result.out)] == ["digits"]
    elif "--errors" in command:
        assert "broken.png" in (cwd / "skipped.csv").read_text(encoding="utf-8")
    elif command[:2] == ("dlcli", "report"):  # issue 18: a digits run's page under 5 MB
        out = (
            command[command.index("--out") + 1] if "--out" in command else "runs/digits/report.html"
        )
        assert (cwd / out).stat().st_size < 5 * 1024 * 1024


def _matches_doc_transcript(stderr: str) -> None:
    """docs/recipes.md shows this command's output; '...' in it stands for anything."""
    text = (REPO_ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
    block = re.search(r"\$ dlcli validate bad\.yaml.*?\n(.*?)```", text, re.S)
    assert block is not None
    shown = block.group(1).strip().splitlines()
    got = [line.replace(str(Path.cwd()), "") for line in stderr.strip().splitlines()]
    assert len(got) == len(shown), stderr
    for want, line in zip(shown, got, strict=True):
        pattern = ".*".join(re.escape(part) for part in want.split("..."))
        assert re.fullmatch(pattern, line), f"docs show {want!r}, dlcli prints {line!r}"
