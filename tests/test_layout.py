"""The codebase reads in one sitting: README's Layout table orders the modules, and the code keeps to it."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "wordmore"


def _order() -> list[str]:
    """Module names in the order README's Layout table lists them."""
    text = (ROOT / "README.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    names = []
    for row in re.findall(r"^\| (.+?) \|", text, re.M):
        names += [m for m in re.findall(r"`(\w+)\.py`", row)]
    return names


def _imports(path: Path) -> set[str]:
    """wordmore modules that path imports (relative or absolute), at any depth in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 1 and mod:
                found.add(mod.split(".")[0])
            elif node.level == 1:
                found |= {a.name for a in node.names if (PKG / f"{a.name}.py").exists()}
            elif mod.startswith("wordmore."):
                found.add(mod.split(".")[1])
    return found - {"__init__"}


def test_every_module_is_in_the_layout_table_and_imports_only_those_above_it():
    order = _order()
    modules = {p.stem for p in PKG.glob("*.py")} - {"__init__", "__main__"}
    assert modules == set(order), f"README's Layout table and wordmore/ differ: {modules ^ set(order)}"
    for name in order:
        above = set(order[:order.index(name)])
        wrong = _imports(PKG / f"{name}.py") - above
        assert not wrong, f"{name}.py imports {wrong}, which the Layout table lists below it"
    assert all("cli" not in _imports(p) for p in PKG.glob("*.py") if p.stem != "__main__")


def test_modules_and_functions_stay_short_and_say_what_they_hold():
    for p in PKG.glob("*.py"):
        tree = ast.parse(p.read_text())
        assert len(p.read_text().splitlines()) <= 360, f"{p.name} is over 360 lines"
        assert ast.get_docstring(tree), f"{p.name} has no opening line saying what lives there"
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                assert n <= 60, f"{p.name}: {node.name} is {n} lines"
