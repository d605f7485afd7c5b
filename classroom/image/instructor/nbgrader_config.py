# The instructor's course directory, on their persistent home volume: clone the course
# repository there once (it holds solutions/, notebooks/ and nbgrader_config.py).
c = get_config()  # noqa: F821 - provided by nbgrader
c.CourseDirectory.root = "/home/jovyan/bert-ecommerce"
