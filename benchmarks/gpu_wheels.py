"""Wheels for the GPU machine: what ``benchmarks/gpu.sh`` needs there that its image lacks.

The lent H200 machine has torch, transformers, accelerate, peft, pandas, scikit-learn and
matplotlib, but no papermill, nbformat, ipykernel or ipywidgets, and no network. This script
computes the closure of what the lessons need to run under papermill (the requirements of
``ROOTS``, read from this environment's installed metadata, evaluated for the machine's
Python 3.12 on x86-64 Linux), leaves out what the image already has (``PREINSTALLED``,
from the package list the lending service documents for that image), and:

* ``list``: prints the wheels, with the versions pinned here;
* ``download DIR``: fetches them, binary-only for cp312 manylinux, into ``DIR`` (``.whl``);
* ``check DIR``: checks that ``DIR`` holds exactly one wheel of each, and nothing else.

Then, on the device tool: ``run(command="bash benchmarks/gpu.sh", carry=[".whl"])``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement

ROOTS = ("papermill", "nbformat", "nbclient", "ipykernel", "ipywidgets")
# The 'cuda' image's Python packages (KINDS.md, "Python packages already there").
PREINSTALLED = set("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs
botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy
coverage cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython
diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools formulaic
frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize
hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib
jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator
lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py
mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba
numba-cuda numpy numpyro nvidia-ml-py onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging
pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache protobuf
psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest
pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil
pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core
scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools
shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch
torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt
xarray xxhash yarl zipp
""".split())
MACHINE = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
           "platform_system": "Linux", "os_name": "posix", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "platform_machine": "x86_64", "extra": ""}
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64", "manylinux_2_24_x86_64",
             "manylinux_2_26_x86_64", "manylinux_2_31_x86_64", "manylinux_2_34_x86_64"]


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def needed(roots=ROOTS) -> dict[str, str]:
    """``{name: version}`` of every package the roots need that the GPU image lacks."""
    found: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = normalise(todo.pop())
        if name in found or name in PREINSTALLED:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            raise SystemExit(f"{name} is needed on the GPU machine but not installed here; install "
                             "it into this venv first (pinned in constraints.txt).") from None
        found[name] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate(MACHINE):
                todo.append(req.name)
    return dict(sorted(found.items()))


def download(folder: Path) -> None:
    """``pip download`` each needed wheel (cp312, manylinux, x86-64, no dependencies)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, version in needed().items():
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                   "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
                   "-d", str(folder), f"{name}=={version}"]
        for platform in PLATFORMS:
            command[-1:-1] = ["--platform", platform]
        subprocess.run(command, check=True)


def check(folder: Path) -> list[str]:
    """Problems with the wheels in ``folder``: missing, doubled or unexpected packages."""
    wheels: dict[str, list[str]] = {}
    for wheel in folder.glob("*.whl"):
        name, version = wheel.name.split("-")[:2]
        wheels.setdefault(normalise(name), []).append(version)
    want = needed()
    problems = [f"missing: {n}=={v}" for n, v in want.items() if n not in wheels]
    problems += [f"several versions of {n}: {v}" for n, v in wheels.items() if len(v) > 1]
    problems += [f"not needed: {n}" for n in wheels if n not in want]
    problems += [f"{n}: {wheels[n][0]} here, {v} pinned" for n, v in want.items()
                 if n in wheels and wheels[n][0] != v]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("list", "download", "check"))
    parser.add_argument("folder", nargs="?", type=Path, default=Path(".whl"))
    args = parser.parse_args(argv)
    if args.action == "list":
        for name, version in needed().items():
            print(f"{name}=={version}")
        return 0
    if args.action == "download":
        download(args.folder)
    problems = check(args.folder)
    for problem in problems:
        print(problem, file=sys.stderr)
    size = sum(p.stat().st_size for p in args.folder.glob("*.whl")) / 2**20
    print(f"{args.folder}: {len(list(args.folder.glob('*.whl')))} wheels, {size:.1f} MiB, "
          f"{'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
