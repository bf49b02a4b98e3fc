#!/usr/bin/env python3
"""Rebuild infra/schema/aws-subset.json, the pruned Pulumi AWS schema the infra crate is built from.

Why this exists: `pulumi_gestalt_build::generate` asks the Pulumi CLI for the provider schema, and
there is no Pulumi CLI (nor a downloadable full schema) on our machines. The PyPI wheel
`pulumi-aws` carries the same information in its generated Python sources: resource tokens,
wire property names (`@pulumi.getter(name=...)`), required inputs/outputs and nested types. This
script reads those sources as syntax trees (nothing is imported or executed) and writes a schema
holding only the resources the program declares, so the generated bindings stay small.

Run by hand when the resource list or the provider version changes (needs Python 3.9+ and pip,
or a wheel given with --wheel); CI and builds only use the committed JSON:

    python3 infra/scripts/aws_schema_subset.py > infra/schema/aws-subset.json

Deliberate departures from the real schema:
- `pulumi.Archive` properties (the Lambda `code`) become a map of strings. pulumi_gestalt 0.0.12
  maps Archive to a plain string, which the engine would not recognise as an archive; a map lets
  the program send Pulumi's archive encoding (`{<sig key>: <archive sig>, "path": ...}`).
- `Union[str, <enum or document type>]` becomes a plain string (enums and the typed IAM policy
  document are conveniences of other SDKs; the wire value is a string).
- Descriptions are dropped: they only bloat the generated code.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PROVIDER_VERSION = "7.51.1"

# (python module, file stem) of every resource the program declares. Keep sorted by module.
RESOURCES = [
    ("acm", "certificate"),
    ("acm", "certificate_validation"),
    ("apigateway", "account"),
    ("apigatewayv2", "api"),
    ("apigatewayv2", "api_mapping"),
    ("apigatewayv2", "authorizer"),
    ("apigatewayv2", "deployment"),
    ("apigatewayv2", "domain_name"),
    ("apigatewayv2", "integration"),
    ("apigatewayv2", "route"),
    ("apigatewayv2", "route_response"),
    ("apigatewayv2", "stage"),
    ("cloudwatch", "event_rule"),
    ("cloudwatch", "event_target"),
    ("cloudwatch", "log_group"),
    ("cloudwatch", "metric_alarm"),
    ("cognito", "user_pool"),
    ("cognito", "user_pool_client"),
    ("dynamodb", "table"),
    ("iam", "role"),
    ("iam", "role_policy"),
    ("lambda_", "event_source_mapping"),
    ("lambda_", "function"),
    ("lambda_", "permission"),
    ("route53", "record"),
    ("secretsmanager", "secret"),
    ("secretsmanager", "secret_version"),
    ("sns", "topic"),
    ("sns", "topic_subscription"),
    ("sqs", "queue"),
    ("sqs", "queue_policy"),
]

ARCHIVE_AS_MAP = {"type": "object", "additionalProperties": {"type": "string"}}


def die(message: str) -> None:
    print(f"aws_schema_subset: {message}", file=sys.stderr)
    sys.exit(1)


def dotted(node: ast.AST) -> str:
    """`_builtins.str` -> "_builtins.str", `Optional` -> "Optional"."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return ""


class Module:
    """One python package of the wheel (e.g. pulumi_aws/apigatewayv2): parsed lazily."""

    def __init__(self, root: Path, name: str):
        self.root = root
        self.name = name
        self._trees: dict[str, ast.Module] = {}

    def tree(self, stem: str) -> ast.Module:
        if stem not in self._trees:
            path = self.root / self.name / f"{stem}.py"
            if not path.exists():
                die(f"missing source {path}")
            self._trees[stem] = ast.parse(path.read_text(encoding="utf-8"))
        return self._trees[stem]

    def find_class(self, stem: str, class_name: str) -> ast.ClassDef | None:
        for node in self.tree(stem).body:
            if isinstance(node, ast.ClassDef) and node.name == class_name:
                return node
        return None


class SchemaBuilder:
    def __init__(self, root: Path):
        self.root = root
        self.modules: dict[str, Module] = {}
        self.types: dict[str, dict] = {}
        self.pending: list[tuple[str, str, str]] = []  # (py module, token module, type name)

    def module(self, name: str) -> Module:
        if name not in self.modules:
            self.modules[name] = Module(self.root, name)
        return self.modules[name]

    # ---- annotations -> schema types -------------------------------------------------------
    def convert(self, node: ast.AST, py_mod: str, tok_mod: str) -> tuple[dict, bool]:
        """Schema type of an annotation and whether it is optional."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return self.convert(ast.parse(node.value, mode="eval").body, py_mod, tok_mod)
        if isinstance(node, ast.Subscript):
            head = dotted(node.value)
            arg = node.slice
            if head in ("pulumi.Input", "pulumi.Output", "Input", "Output"):
                return self.convert(arg, py_mod, tok_mod)
            if head == "Optional":
                inner, _ = self.convert(arg, py_mod, tok_mod)
                return inner, True
            if head in ("Sequence", "List", "list"):
                inner, _ = self.convert(arg, py_mod, tok_mod)
                return {"type": "array", "items": inner}, False
            if head in ("Mapping", "Dict", "dict"):
                assert isinstance(arg, ast.Tuple)
                inner, _ = self.convert(arg.elts[1], py_mod, tok_mod)
                return {"type": "object", "additionalProperties": inner}, False
            if head == "Union":
                assert isinstance(arg, ast.Tuple)
                names = [dotted(e) for e in arg.elts]
                if "_builtins.str" in names or "str" in names:
                    return {"type": "string"}, False
                die(f"unsupported Union {ast.unparse(node)} in {py_mod}")
            die(f"unsupported generic {ast.unparse(node)} in {py_mod}")
        name = dotted(node)
        primitives = {
            "str": "string",
            "int": "integer",
            "float": "number",
            "bool": "boolean",
        }
        short = name.removeprefix("_builtins.")
        if short in primitives:
            return {"type": primitives[short]}, False
        if name in ("pulumi.Archive", "pulumi.AssetArchive"):
            return dict(ARCHIVE_AS_MAP), False
        if name in ("pulumi.Asset",):
            return {"$ref": "pulumi.json#/Asset"}, False
        if name == "Any":
            return {"$ref": "pulumi.json#/Any"}, False
        if name:
            return {"$ref": self.type_ref(name, py_mod, tok_mod)}, False
        die(f"unsupported annotation {ast.unparse(node)} in {py_mod}")
        raise AssertionError

    def type_ref(self, name: str, py_mod: str, tok_mod: str) -> str:
        if "." in name:
            prefix, cls = name.rsplit(".", 1)
            if prefix not in ("outputs", "_inputs"):
                die(f"cross-module type {name} in {py_mod} is not supported by this script")
        else:
            cls = name
        type_name = cls.removesuffix("Args")
        token = f"aws:{tok_mod}/{type_name}:{type_name}"
        if token not in self.types:
            self.types[token] = {}  # placeholder, filled by resolve_types
            self.pending.append((py_mod, tok_mod, type_name))
        return f"#/types/{token}"

    # ---- classes -> properties -------------------------------------------------------------
    def getters(self, cls: ast.ClassDef, py_mod: str, tok_mod: str):
        """(wire name, schema type, optional) of every `@pulumi.getter` property of a class."""
        for node in cls.body:
            if not isinstance(node, ast.FunctionDef) or node.returns is None:
                continue
            wire = None
            for deco in node.decorator_list:
                if dotted(deco) == "pulumi.getter":
                    wire = node.name
                elif isinstance(deco, ast.Call) and dotted(deco.func) == "pulumi.getter":
                    wire = node.name
                    for kw in deco.keywords:
                        if kw.arg == "name":
                            wire = kw.value.value  # type: ignore[attr-defined]
            if wire is None:
                continue
            schema_type, optional = self.convert(node.returns, py_mod, tok_mod)
            yield wire, schema_type, optional

    def object_of(self, cls: ast.ClassDef, py_mod: str, tok_mod: str) -> dict:
        properties, required = {}, []
        for wire, schema_type, optional in self.getters(cls, py_mod, tok_mod):
            properties[wire] = schema_type
            if not optional:
                required.append(wire)
        out: dict = {"type": "object", "properties": properties}
        if required:
            out["required"] = sorted(required)
        return out

    def resource(self, py_mod: str, stem: str) -> tuple[str, dict]:
        module = self.module(py_mod)
        tree = module.tree(stem)
        token = None
        class_name = None
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "__init__"
                and isinstance(node.func.value, ast.Call)
                and dotted(node.func.value.func) == "super"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                token = node.args[0].value
                class_name = node.func.value.args[0].id  # type: ignore[attr-defined]
        if token is None or class_name is None:
            die(f"no resource token in {py_mod}/{stem}.py")
        tok_mod = token.split(":")[1].split("/")[0]
        args_cls = module.find_class(stem, f"{class_name}Args")
        res_cls = module.find_class(stem, class_name)
        if args_cls is None or res_cls is None:
            die(f"classes {class_name}/{class_name}Args not found in {py_mod}/{stem}.py")
        inputs = self.object_of(args_cls, py_mod, tok_mod)
        outputs = self.object_of(res_cls, py_mod, tok_mod)
        resource = {
            "properties": outputs["properties"],
            "required": outputs.get("required", []),
            "inputProperties": inputs["properties"],
            "requiredInputs": inputs.get("required", []),
        }
        return token, resource

    def resolve_types(self) -> None:
        while self.pending:
            py_mod, tok_mod, type_name = self.pending.pop()
            module = self.module(py_mod)
            cls = module.find_class("_inputs", f"{type_name}Args")
            if cls is None:
                cls = module.find_class("outputs", type_name)
            if cls is None:
                die(f"type {type_name} not found in {py_mod}")
            token = f"aws:{tok_mod}/{type_name}:{type_name}"
            self.types[token] = self.object_of(cls, py_mod, tok_mod)


def unpack_wheel(wheel: Path | None, into: Path) -> Path:
    if wheel is None:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(into),
             f"pulumi-aws=={PROVIDER_VERSION}"],
            check=True,
            stdout=sys.stderr,
        )
        wheels = list(into.glob("pulumi_aws-*.whl"))
        if not wheels:
            die("pip download produced no wheel")
        wheel = wheels[0]
    modules = {m for m, _ in RESOURCES}
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            parts = member.split("/")
            if len(parts) == 3 and parts[0] == "pulumi_aws" and parts[1] in modules:
                archive.extract(member, into)
    return into / "pulumi_aws"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help="a local pulumi_aws wheel (default: pip download)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = unpack_wheel(args.wheel, Path(tmp))
        builder = SchemaBuilder(root)
        resources = dict(builder.resource(m, s) for m, s in RESOURCES)
        builder.resolve_types()
    schema = {
        "name": "aws",
        "displayName": "AWS",
        "version": PROVIDER_VERSION,
        "resources": dict(sorted(resources.items())),
        "types": dict(sorted(builder.types.items())),
    }
    json.dump(schema, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
