"""nbgrader configuration: the repository root is the course directory.

solutions/<lesson>/<lesson>.ipynb is nbgrader's "source", notebooks/ its
"release". Grading always runs lessons at the small ``smoke`` size, offline.

nbgrader (the formgrader inside JupyterLab, ``nbgrader`` commands, ``course
grade``) loads this file. It sets nothing in the environment of the trainee's
own kernels: the grading settings reach only the kernels nbgrader starts.
"""

import os
import shutil
import sys

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

ROOT = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "bert-ecommerce"
c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "gradebook.db")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "build",
                            "checkpoints", ".*"]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Kernels that nbgrader starts (autograde, Validate) run the lesson small and offline.
# Set in that kernel at start-up, so the trainee's own kernels keep their profile.
GRADING_ENV = {"COURSE_PROFILE": "smoke", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
c.Execute.extra_arguments = [
    "--IPKernelApp.exec_lines=import os as _os; "
    f"[_os.environ.setdefault(_k, _v) for _k, _v in {sorted(GRADING_ENV.items())!r}]; del _os"
]

# Kernel and limits for validate and autograde.
c.Execute.kernel_name = "python3"
c.Execute.timeout = 300  # seconds per cell
c.Execute.interrupt_on_timeout = True
c.LimitOutput.max_lines = 1000  # lines of output per cell kept in a graded notebook
c.LimitOutput.max_traceback = 100
c.Validator.validate_all = True

# The exchange (release / collect through nbgrader) lives in the course checkout, except on
# a class hub (`course hub`), whose formgrader service names the shared exchange folder.
c.Exchange.root = os.environ.get("COURSE_EXCHANGE_ROOT") or os.path.join(ROOT, "exchange")
try:
    os.makedirs(c.Exchange.root, exist_ok=True)
except OSError:  # a read-only checkout: the formgrader then says the exchange is missing
    pass

# nbgrader runs the `alembic` script by name when it creates gradebook.db. A Jupyter server
# started as `.venv/bin/jupyter lab` (environment not activated) has no .venv/bin on PATH, so
# the formgrader's first open would fail with HTTP 500 "FileNotFoundError: 'alembic'". The
# server loads this file, so put its interpreter's scripts folder first on its PATH.
_SCRIPTS = os.path.dirname(sys.executable)
_ALEMBIC = os.path.join(_SCRIPTS, "alembic")
if os.path.exists(_ALEMBIC) and shutil.which("alembic") != _ALEMBIC:
    os.environ["PATH"] = os.pathsep.join([_SCRIPTS, os.environ.get("PATH", "")])
