

def test_the_runtime_refuses_a_route_without_roles() -> None:
    from shebao_common.runtime import ServiceRuntime
    from shebao_contracts.topics import Registry

    async def undeclared(query: dict[str, str], rt: Any) -> tuple[int, Any]:
        return 200, {}

    with pytest.raises(ValueError, match="declare no roles"):
        ServiceRuntime(
            name="x",
            settings=ServiceSettings(),
            registry=Registry(),
            subscriptions=[],
            routes=[("/open", undeclared)],
        )
