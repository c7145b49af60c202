"""anvil_client.composition: what a partial name means and what would fail, found without rendering
(shared by the FORGE's save-time checks and the client)."""

from anvil_client.composition import Library, SetVersion


def text(template, parameters=()):
    return {"template": template, "parameters": list(parameters)}


def library():
    common = SetVersion("common", "1.2.0", {"tone": text("Be {{ tier }}.", [{"name": "tier"}]),
                                            "base": text("Base.")})
    support = SetVersion("support", "2.0.0", {
        "reply": text("{% render 'common.tone', tier: t %} {% render 'footer' %}", [{"name": "t"}]),
        "footer": text("Thanks."),
        "chat": {"kind": "chat", "messages": [{"role": "user", "content": "hi"}], "parameters": []},
    }, {"common": "1.2.0"})
    return Library([common, support]), support


def test_names_resolve_to_the_same_set_or_the_locked_version_of_a_dependency():
    lib, support = library()
    assert lib.find(support, "footer")[1] == "footer"
    target, slug = lib.find(support, "common.tone")
    assert (str(target), slug) == ("common@1.2.0", "tone")
    assert lib.find(support, "support.footer")[0] is support
    assert lib.find(support, "other.tone") is None and lib.find(support, "common.nope") is None
    assert lib.prepared(support, "reply").render({"t": "kind"}) == "Be kind. Thanks."
    assert lib.problems(support, "reply") == []


def test_problems_name_what_would_fail_and_where():
    lib, support = library()
    lib.add(SetVersion("support", "3.0.0", {
        "a": text("x\n  {% render 'nope' %}"),
        "b": text("{% render 'common.tone' %}"),
        "c": text("{% render 'chat' %}"),
        "d": text("{% render 'ghost.x' %}"),
        "chat": {"kind": "chat", "messages": [], "parameters": []},
    }, {"common": "1.2.0"}))
    v3 = lib.get("support", "3.0.0")
    [missing] = lib.problems(v3, "a")
    assert "partial 'nope' not found" in missing.message and (missing.line, missing.column) == (2, 3)
    assert "needs parameter 'tier'" in lib.problems(v3, "b")[0].message
    assert "is a chat prompt" in lib.problems(v3, "c")[0].message
    assert "no dependency on 'ghost'" in lib.problems(v3, "d")[0].message


def test_cycles_and_depth_are_found():
    looped = SetVersion("s", None, {"a": text("{% render 'b' %}"), "b": text("{% render 'c' %}"),
                                    "c": text("{% render 'a' %}")})
    lib = Library([looped])
    assert [p.message for p in lib.problems(looped, "a")] == ["partials form a cycle: s.a → s.b → s.c → s.a"]
    chain = {f"p{i}": text(f"{{% render 'p{i + 1}' %}}") for i in range(12)}
    chain["p12"] = text("end")
    deep = SetVersion("d", None, chain)
    assert "nested more than 10 levels deep" in Library([deep]).problems(deep, "p0")[0].message
