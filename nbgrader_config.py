"""nbgrader configuration: the repository root is the course directory.

solutions/<lesson>/<lesson>.ipynb is nbgrader's "source", notebooks/ its
"release". Grading always runs lessons at the small ``smoke`` size.
"""

import os

# The autograder must never train at full size, and never reach the hub.
os.environ.setdefault("COURSE_PROFILE", "smoke")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "bert-ecommerce"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "build", "checkpoints", ".*"]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Kernel and limits for validate and autograde.
c.Execute.kernel_name = "python3"
c.Execute.timeout = 300  # seconds per cell
c.Execute.interrupt_on_timeout = True
c.LimitOutput.max_lines = 1000  # lines of output per cell kept in a graded notebook
c.LimitOutput.max_traceback = 100
c.Validator.validate_all = True
