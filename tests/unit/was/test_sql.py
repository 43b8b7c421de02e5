import pytest

from skitai.was import sql


def test_pyformat_to_numeric_and_qmark():
    text = "SELECT * FROM t WHERE a = %s AND b = %s"
    assert sql.to_numeric(text, (1, "x")) == ("SELECT * FROM t WHERE a = $1 AND b = $2", [1, "x"])
    assert sql.to_qmark(text, [1, "x"]) == ("SELECT * FROM t WHERE a = ? AND b = ?", [1, "x"])


def test_named_parameters_one_slot_per_name_or_per_use():
    text = "SELECT %(a)s, %(b)s, %(a)s"
    assert sql.to_numeric(text, {"a": 1, "b": 2}) == ("SELECT $1, $2, $1", [1, 2])
    assert sql.to_qmark(text, {"a": 1, "b": 2}) == ("SELECT ?, ?, ?", [1, 2, 1])


def test_placeholders_inside_literals_comments_and_dollar_quotes_stay():
    text = "SELECT '%s', \"%s\", $$ %s $$, $f$ %s $f$ -- %s\n, %s /* %s */, 'it''s %s'"
    out, values = sql.to_numeric(text, ("v",))
    assert values == ["v"]
    assert out == "SELECT '%s', \"%s\", $$ %s $$, $f$ %s $f$ -- %s\n, $1 /* %s */, 'it''s %s'"


def test_percent_escape_and_native_styles_pass_through():
    assert sql.to_numeric("SELECT 5 %% 2, %s", (1,)) == ("SELECT 5 % 2, $1", [1])
    assert sql.to_numeric("SELECT $1", (1,)) == ("SELECT $1", [1])
    assert sql.to_qmark("SELECT :x", {"x": 1}) == ("SELECT :x", {"x": 1})
    # No parameters: the text is never rewritten (a LIKE '%' pattern stays).
    assert sql.to_numeric("SELECT 'a%s%%'", None) == ("SELECT 'a%s%%'", [])


def test_mismatches_are_clear_errors():
    with pytest.raises(sql.ParamError, match="2 %s placeholders, 1 parameters|1 parameters"):
        sql.to_numeric("SELECT %s, %s", (1,))
    with pytest.raises(sql.ParamError, match="1 %s placeholders, 2 parameters"):
        sql.to_numeric("SELECT %s", (1, 2))
    with pytest.raises(sql.ParamError, match="no parameter named 'b'"):
        sql.to_qmark("SELECT %(b)s", {"a": 1})
    with pytest.raises(sql.ParamError, match="need a tuple"):
        sql.to_qmark("SELECT %s", {"a": 1})


def test_hostile_value_is_a_parameter_not_text():
    evil = "x'); DROP TABLE t; --"
    out, values = sql.to_numeric("INSERT INTO t VALUES (%s)", (evil,))
    assert out == "INSERT INTO t VALUES ($1)" and values == [evil]


def test_script_detection_ignores_literals():
    assert sql.is_script("CREATE TABLE a (x int); INSERT INTO a VALUES (1);")
    assert not sql.is_script("SELECT ';' ;")
    assert not sql.is_script("SELECT 1")


def test_row_attribute_and_key_access():
    row = sql.Row([("name", "a"), ("n", 1)])
    assert row.name == "a" and row["n"] == 1 and row == {"name": "a", "n": 1}
    with pytest.raises(AttributeError, match="no column 'nope'"):
        row.nope  # noqa: B018


def test_from_queryset_takes_only_query_like_objects():
    with pytest.raises(TypeError, match="SQL text .* or a Django QuerySet, not int"):
        sql.from_queryset(3)


class _Query:
    def __init__(self, text: str) -> None:
        self.text = text

    def sql_with_params(self) -> tuple[str, tuple[int, ...]]:
        return self.text, (1,)


def test_from_queryset_select_only_and_one_statement():
    assert sql.from_queryset(_Query('SELECT "t"."a" FROM "t" WHERE "t"."a" = %s')) == (
        'SELECT "t"."a" FROM "t" WHERE "t"."a" = %s', (1,))
    for text in ('UPDATE "t" SET "a" = %s', "SELECT 1; DELETE FROM t", 'DELETE FROM "t"'):
        with pytest.raises(ValueError, match="only a SELECT"):
            sql.from_queryset(_Query(text))


def test_was_backend_execute_refuses_a_queryset_with_parameters(tmp_path):
    import skitai
    from skitai import was

    skitai.alias("@lite", skitai.DB_SQLITE3, str(tmp_path / "q.db"))
    with pytest.raises(TypeError, match="brings its own parameters"):
        was.backend("@lite").execute(object(), (1,))
    with pytest.raises(TypeError, match="not object"):
        was.backend("@lite").execute(object())


def test_row_columns_come_after_the_dict_methods_and_a_subclass_keeps_its_own():
    # Row looks columns up in __getattribute__ (no failed lookup first): the precedence
    # stays that of __getattr__, the dict's own attributes first.
    row = sql.Row({"one": 1, "items": "a column"})
    assert row.one == 1 and callable(row.items) and row["items"] == "a column"
    assert getattr(row, "missing", "default") == "default" and hasattr(row, "one")
    with pytest.raises(AttributeError, match="no column 'missing'"):
        row.missing  # noqa: B018
    row.two = 2
    assert row == {"one": 1, "items": "a column", "two": 2}

    class Named(sql.Row):
        __slots__ = ()

        def label(self) -> str:
            return f"#{self.one}"

    named = Named({"one": 3})
    assert named.label() == "#3" and named.one == 3
