"""lab/ (labgrid environment, strategy module, LAVA job and test definition) without labgrid or LAVA.

PyYAML is not a project dependency, so the files are read with a strict loader for the YAML subset
they use (block mappings and sequences, flow ``{}``/``[]``, quoted and plain scalars); anything
outside that subset fails the test, which keeps the files simple. When PyYAML is installed the same
files are also parsed with it and must give the same data.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from typing import Any

import pytest

LAB = Path(__file__).resolve().parents[1] / "lab"
YAML_FILES = sorted(LAB.rglob("*.yaml"))


# -- a strict loader for the YAML subset of lab/ ---------------------------------------------------


def _strip_comment(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"" and (i == 0 or line[i - 1] in " [{,:-"):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] == " "):
            return line[:i].rstrip()
    return line.rstrip()


def _split_flow(text: str) -> list[str]:
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    tail = text[start:].strip()
    return parts + ([tail] if tail else [])


def scalar(text: str) -> Any:
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        return dict(_pair(p) for p in _split_flow(text[1:-1]))
    if text.startswith("[") and text.endswith("]"):
        return [scalar(p) for p in _split_flow(text[1:-1])]
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        assert "\\" not in text, f"escapes are outside the subset: {text}"
        return text[1:-1]
    if text in ("", "~", "null"):
        return None
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    assert not text.startswith(("&", "*", "!", "|", ">", "%", "@", "`")), f"outside the subset: {text}"
    return text


def _pair(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition(": ") if ": " in text else text.partition(":")
    assert sep and key.strip(), f"not a key: value pair: {text!r}"
    return str(scalar(key)), scalar(value)


def load_yaml(text: str) -> Any:
    lines = []
    for raw in text.splitlines():
        assert "\t" not in raw, "tabs are not YAML indentation"
        line = _strip_comment(raw)
        if line.strip():
            lines.append((len(line) - len(line.lstrip(" ")), line.strip()))
    value, end = _block(lines, 0, lines[0][0])
    assert end == len(lines), f"unparsed line: {lines[end][1]!r}"
    return value


def _block(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[Any, int]:
    if lines[i][1].startswith("- ") or lines[i][1] == "-":
        out_list: list[Any] = []
        while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("-"):
            rest = lines[i][1][1:].strip()
            if re.match(r"^[\w.@/-]+:( |$)", rest):  # "- key: value" opens a mapping item
                lines[i] = (indent + 2, rest)
                item, i = _block(lines, i, indent + 2)
            elif rest:
                item, i = scalar(rest), i + 1
            else:
                item, i = _block(lines, i + 1, lines[i + 1][0])
            out_list.append(item)
        return out_list, i
    out: dict[str, Any] = {}
    while i < len(lines) and lines[i][0] == indent and not lines[i][1].startswith("- "):
        key, value = _pair(lines[i][1])
        assert key not in out, f"duplicate key {key!r}"
        i += 1
        if value is None and i < len(lines) and (lines[i][0] > indent or
                                                   (lines[i][0] == indent and lines[i][1].startswith("- "))):
            value, i = _block(lines, i, lines[i][0])
        out[key] = value
    return out, i


def test_the_loader_on_known_input() -> None:
    doc = "a: 1\nb:\n  - x\n  - k: v\n    n: 2\nc: {p: 'q r', s: [1, 2]}  # note\nd:\n- \"e\"\n"
    assert load_yaml(doc) == {"a": 1, "b": ["x", {"k": "v", "n": 2}], "c": {"p": "q r", "s": [1, 2]},
                              "d": ["e"]}


# -- every file parses ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(LAB)))
def test_yaml_parses(path: Path) -> None:
    data = load_yaml(path.read_text())
    assert isinstance(data, dict) and data
    try:
        import yaml
    except ImportError:
        return
    assert yaml.safe_load(path.read_text()) == data


def test_lab_has_the_expected_files() -> None:
    names = {str(p.relative_to(LAB)) for p in LAB.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert {"README.md", "labgrid/rock5b.yaml", "labgrid/rock5b-manual-power.yaml",
            "labgrid/malihil_labgrid.py", "labgrid/test_mali_hil.py", "lava/rock5b-hil-job.yaml",
            "lava/mali-hil-testdef.yaml"} <= names


# -- labgrid environment ----------------------------------------------------------------------------


@pytest.mark.parametrize("name,power", [("rock5b.yaml", "NetworkPowerDriver"),
                                        ("rock5b-manual-power.yaml", "ManualPowerDriver")])
def test_labgrid_environment(name: str, power: str) -> None:
    env = load_yaml((LAB / "labgrid" / name).read_text())
    main = env["targets"]["main"]
    assert {"RawSerialPort", "NetworkService"} <= set(main["resources"])
    # labgrid binds drivers to earlier ones in file order: power and console before the strategy
    drivers = list(main["drivers"])
    assert drivers[-1] == "MaliHilStrategy"
    assert {power, "SerialDriver", "ShellDriver", "SSHDriver"} <= set(drivers)
    if power == "NetworkPowerDriver":
        assert set(main["resources"]["NetworkPowerPort"]) == {"model", "host", "index"}
    assert env["imports"] == ["malihil_labgrid.py"]
    assert (LAB / "labgrid" / env["imports"][0]).is_file()
    assert env["options"]["mali_hil_workdir"].startswith("/")


# -- the board commands: README == labgrid module == LAVA test definition ----------------------------


def readme_commands() -> list[str]:
    text = (LAB / "README.md").read_text()
    block = re.search(r"<!-- dut-commands -->\s*```sh\n(.*?)```", text, re.S)
    assert block, "lab/README.md lost its dut-commands block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def labgrid_commands() -> list[str]:
    sys.path.insert(0, str(LAB / "labgrid"))
    try:
        import malihil_labgrid
    finally:
        sys.path.remove(str(LAB / "labgrid"))
    return list(malihil_labgrid.DUT_COMMANDS)


def lava_commands() -> list[str]:
    steps = load_yaml((LAB / "lava" / "mali-hil-testdef.yaml").read_text())["run"]["steps"]
    out = []
    for step in steps:
        if re.fullmatch(r"lava-test-case \S+ --result \S+", step):
            continue  # a result record, not a board command
        step = re.sub(r"^lava-test-case \S+ --shell ", "", step)
        step = re.sub(r" \|\| lava-test-raise .*$", "", step)
        out.append(step)
    return out


def test_board_commands_agree() -> None:
    assert readme_commands() == labgrid_commands() == lava_commands()
    assert readme_commands()[-1].endswith("pytest --mali-backend=uio --junitxml=mali-hil-junit.xml")


def test_lava_raises_when_the_doctor_fails() -> None:
    steps = load_yaml((LAB / "lava" / "mali-hil-testdef.yaml").read_text())["run"]["steps"]
    doctor = next(i for i, s in enumerate(steps) if "mali-uio doctor" in s)
    pytest_step = next(i for i, s in enumerate(steps) if "-m pytest" in s)
    assert "|| lava-test-raise" in steps[doctor] and doctor < pytest_step


def test_lava_job_runs_the_test_definition() -> None:
    job = load_yaml((LAB / "lava" / "rock5b-hil-job.yaml").read_text())
    actions = [next(iter(a)) for a in job["actions"]]
    assert actions == ["deploy", "boot", "test"]
    deploy, boot, test = (a[k] for a, k in zip(job["actions"], actions, strict=True))
    assert {"kernel", "dtb"} <= set(deploy) and boot["method"] == "u-boot"
    assert test["definitions"][0]["path"] == "lab/lava/mali-hil-testdef.yaml"
    assert "uio_pdrv_genirq.of_id=generic-uio" in job["context"]["extra_kernel_args"]


# -- run_hil gating, with a fake labgrid SSH driver ------------------------------------------------------


class _FakeSsh:
    """CommandProtocol + FileTransferProtocol stand-in: records commands, fails the ones asked to."""

    def __init__(self, failing: str | None = None) -> None:
        self.failing = failing
        self.commands: list[str] = []
        self.transfers: list[tuple[str, str, str]] = []

    def run(self, cmd: str, timeout: int = 30) -> tuple[list[str], list[str], int]:
        self.commands.append(cmd)
        return [f"ran {cmd}"], [], 1 if self.failing and self.failing in cmd else 0

    def put(self, local: str, remote: str) -> None:
        self.transfers.append(("put", local, remote))

    def get(self, remote: str, local: str) -> None:
        self.transfers.append(("get", remote, local))


def _run_hil(ssh: _FakeSsh, tmp_path: Path) -> Any:
    sys.path.insert(0, str(LAB / "labgrid"))
    try:
        import malihil_labgrid
    finally:
        sys.path.remove(str(LAB / "labgrid"))
    return malihil_labgrid.run_hil(ssh, ssh, tmp_path / "src.tar.gz", tmp_path / "results", "/home/hil/w")


def test_run_hil_runs_every_command_in_the_checkout(tmp_path: Path) -> None:
    ssh = _FakeSsh()
    run = _run_hil(ssh, tmp_path)
    assert run.ok and run.doctor_passed
    unpack = "rm -rf /home/hil/w && mkdir -p /home/hil/w && tar -xzf /home/hil/w.tar.gz -C /home/hil/w"
    assert ssh.commands[0] == unpack
    assert ssh.commands[1:] == [f"cd /home/hil/w && {c}" for c in readme_commands()]
    assert ssh.transfers[-1] == ("get", "/home/hil/w/mali-hil-junit.xml", str(tmp_path / "results"))


def test_run_hil_never_runs_the_suite_after_a_failed_doctor(tmp_path: Path) -> None:
    ssh = _FakeSsh(failing="mali-uio doctor")
    run = _run_hil(ssh, tmp_path)
    assert not run.ok and not run.doctor_passed
    assert not any("pytest" in c for c in ssh.commands) and run.junit is None
    assert [t[0] for t in ssh.transfers] == ["put"]


def test_labgrid_module_imports_labgrid_lazily() -> None:
    source = (LAB / "labgrid" / "malihil_labgrid.py").read_text()
    top_level = [node for node in ast.parse(source).body if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert not any("labgrid" in ast.unparse(node) for node in top_level)
