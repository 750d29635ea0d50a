from tests.harness import Api


async def test_me_as_admin(api: Api) -> None:
    token = await api.admin_token()
    body = await api.gql("{ me { username role } }", token=token)
    assert body == {"data": {"me": {"username": "root-admin", "role": "ADMIN"}}}
