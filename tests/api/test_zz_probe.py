import json, asyncio, time
import httpx
from tests.harness import Api

async def test_probe(api: Api) -> None:
    h = api.http
    async def show(label, r):
        t = time.perf_counter()
        try:
            r = await asyncio.wait_for(r, 20)
        except Exception as e:
            print("\n==", label, "EXC", repr(e)[:200], time.perf_counter() - t); return
        print("\n==", label, r.status_code, r.headers.get("content-type"), r.text[:300], time.perf_counter() - t)
    tok = await api.user_token()
    await show("missing frag", api.post("{ ...Missing }", token=tok))
    await show("cycle frag", api.post("query { ...A } fragment A on Query { ...B } fragment B on Query { ...A me { id } }", token=tok))
    for n in (10, 16, 20):
        frags = "fragment F0 on Query { me { id } }\n" + "\n".join(f"fragment F{i} on Query {{ ...F{i-1} ...F{i-1} }}" for i in range(1, n + 1))
        await show(f"bomb {n}", api.post("query { ...F%d }\n%s" % (n, frags), token=tok))
    deep = "{ me " + "{ a " * 12 + "{ b }" + " }" * 12 + " }"
    await show("deep invalid", api.post(deep, token=tok))
