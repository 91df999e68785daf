from tests.integration.gateway.support import api_fixture  # noqa: F401
from tests.stack import stack  # noqa: F401
