#!/usr/bin/env python3
"""Runs the Python of bitbake/classes/pv-example-node.bbclass for container recipes and prints what
BitBake would hand to container-pvrexport, one JSON object per recipe.

BitBake is not packaged for Debian 12, so the tests cannot parse the layer with BitBake itself.
This is a small stand-in for its datastore, enough for what our class and recipes are allowed to
contain: `VAR = "..."` / `VAR ?= "..."` assignments, `${VAR}` and `${@python}` expansion, `def`
functions and `python __anonymous() {...}`. It runs the class's real Python (pv_example_facts,
the anonymous function), so a class that cannot read containers/<name>/container.json the way
`npm run pack` does fails the tests here, not in a first kas build.

Usage: bbclass.py REPO_ROOT RECIPE.bb...   (REPO_ROOT stands for PV_EXAMPLES_ROOT)
"""
import json
import os
import re
import sys

# container-pvrexport's weak defaults (meta-pantavisor classes/container-pvrexport.bbclass, `??=`).
CONTAINER_PVREXPORT_DEFAULTS = {
    "PVR_APP_ADD_EXTRA_ARGS": "  --volume ovl:/var:permanent",
    "PVR_APP_ADD_GROUP": "root",
    "PVRIMAGE_AUTO_MDEV": "1",
}
REPORTED = ["PN", "PV_EXAMPLE_PROGRAM", "PV_EXAMPLE_FILES", "PV_EXAMPLE_PACKAGES", "PV_EXAMPLE_ADDONS",
            "PVRIMAGE_AUTO_MDEV", "PVR_APP_ADD_GROUP", "PVR_APP_ADD_EXTRA_ARGS", "IMAGE_INSTALL", "SRC_URI",
            "PV_EXAMPLE_MISSING"]
ASSIGNMENT = re.compile(r'^([A-Za-z0-9_-]+)\s*(\?\?=|\?=|=)\s*"(.*)"$')


class Data:
    """getVar/setVar/appendVar with BitBake's expansion of ${VAR} and ${@python}."""

    def __init__(self, functions):
        self.values = {}
        self.functions = functions

    def getVar(self, name, expand=True):
        value = self.values.get(name)
        return self.expand(value) if value is not None and expand else value

    def setVar(self, name, value):
        self.values[name] = value

    def appendVar(self, name, value):
        self.values[name] = (self.values.get(name) or "") + value

    def expand(self, text):
        for _ in range(100):
            new = re.sub(r"\$\{@([^}]*)\}", lambda m: str(eval(m.group(1), dict(self.functions, d=self))), text)
            new = re.sub(r"\$\{([A-Za-z0-9_-]+)\}", lambda m: self.getVar(m.group(1)) if m.group(1) in self.values else m.group(0), new)
            if new == text:
                return text
            text = new
        raise RuntimeError("expansion does not end: " + text)


class Parse:
    @staticmethod
    def mark_dependency(d, path):
        d.appendVar("__depends", " " + path)


class Bb:
    parse = Parse

    @staticmethod
    def fatal(message):
        raise RuntimeError(message)


def statements(text):
    """Top-level assignments, def blocks and the anonymous function of a .bb/.bbclass text."""
    lines = text.replace("\\\n", " ").split("\n")
    assignments, defs, anonymous, i = [], [], [], 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("def "):
            block = [line]
            i += 1
            while i < len(lines) and (lines[i].startswith((" ", "\t")) or lines[i] == ""):
                block.append(lines[i])
                i += 1
            defs.append("\n".join(block))
            continue
        if line.startswith("python __anonymous() {"):
            body = []
            i += 1
            while lines[i] != "}":
                body.append(lines[i])
                i += 1
            anonymous.append("def __anonymous(d):\n" + "\n".join(body) + "\n")
        match = ASSIGNMENT.match(line.strip()) if not line.startswith((" ", "\t")) else None
        if match:
            assignments.append((match.group(1), match.group(2), re.sub(r"\s+", " ", match.group(3))))
        i += 1
    return assignments, defs, anonymous


def main():
    root, recipes = sys.argv[1], sys.argv[2:]
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "bitbake", "classes", "pv-example-node.bbclass")) as f:
        class_assignments, defs, anonymous = statements(f.read())
    functions = {"bb": Bb, "os": os}
    for block in defs + anonymous:
        exec(block, functions)
    out = []
    for recipe in recipes:
        d = Data(functions)
        pn = re.sub(r"_[^_]*\.bb$", "", os.path.basename(recipe))
        d.setVar("PN", pn)
        d.setVar("PV_EXAMPLES_ROOT", root)
        d.setVar("SRC_URI", "")
        with open(recipe) as f:
            recipe_assignments, _, _ = statements(f.read())
        for name, op, value in recipe_assignments + class_assignments:
            if op == "=" or d.getVar(name, False) is None:
                d.setVar(name, value)
        for name, value in CONTAINER_PVREXPORT_DEFAULTS.items():
            if d.getVar(name, False) is None:
                d.setVar(name, value)
        functions["__anonymous"](d)
        out.append({name: d.getVar(name) for name in REPORTED})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
