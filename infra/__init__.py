"""Deployment tooling: each function's IAM access (iam.py), the package (package.py) and the
test-suite check that every AWS call a handler makes is one its policy allows (iam_trace.py).

Nothing here is imported by the Lambda functions.
"""
