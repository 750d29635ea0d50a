import time
from tests import harness

async def test_probe(mongodb_url: str) -> None:
    for _ in range(5):
        t = time.perf_counter()
        async with harness.running_app(harness.test_settings(mongodb_url)) as api:
            t1 = time.perf_counter()
            await api.user_token()
            await api.admin_token()
            t2 = time.perf_counter()
        print("startup", round(t1 - t, 3), "tokens", round(t2 - t1, 3), "total", round(time.perf_counter() - t, 3))
