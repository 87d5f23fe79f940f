# Shadows the standard encodings package, which Python imports while it
# starts (the site module cannot be shadowed so: Python 3.11 freezes it).
# Python must fail to start and say so.
raise ImportError("py_SUITE broken encodings package")
