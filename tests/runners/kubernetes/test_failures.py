"""runners/kubernetes/failures.py: API errors as the user's next step, with the documented exit code."""
from kubernetes.client.rest import ApiException

from components.runners.kubernetes import failures


def api(status: int) -> ApiException:
    exc = ApiException(status=status, reason="Reason")
    return exc


def test_api_errors_say_what_to_do():
    assert failures.api_error(api(403), "Job x").exit_code == 2
    assert "bankpipe-runner" in failures.api_error(api(403), "Job x").message
    assert "--run-id" in failures.api_error(api(409), "Job x").message
    assert "--trainer=job" in failures.api_error(api(404), "TFJob y").message
    assert failures.api_error(api(500), "Job x").exit_code == 75
    assert failures.unreachable(OSError("refused")).exit_code == 75
