#!/usr/bin/env python3
"""Offline check of a CloudFormation template against AWS's resource schemas (issue 24).

Usage: cfn_schema_check.py TEMPLATE [--db PATH_TO_db.json.gz]

The schemas come from the npm package @aws-cdk/aws-service-spec (its db.json.gz), a test-only
dependency that scripts/install-packages puts under $WRITEGATE_NPM_DIR (default: <repo>/.deps/npm).

Prints each finding as `template.yaml: <path>: <what is wrong>` and exits 1 if there is any;
exits 0 with a one-line summary otherwise; exits 2 on a usage error, a missing db or a missing
PyYAML.

What is checked:
- the template's sections and each resource's keys (Type, Properties, DependsOn, Condition,
  Metadata, DeletionPolicy, UpdateReplacePolicy, CreationPolicy, UpdatePolicy) are known, and
  logical ids are alphanumeric; no mapping key appears twice; no value is null;
- every resource type exists in the schemas (Custom::Name is a custom resource: ServiceToken
  required, any other property allowed; AWS::Serverless::* needs its Transform);
- every property, at every depth, is known to its type, every required property is there, and
  every value has the schema's type (string, integer, number, boolean, date-time, json, tag,
  list, map, structure, union of these) and, where the schema lists them, one of its allowed
  values;
- every Ref names a parameter, a resource or a pseudo parameter (in Conditions: a parameter or a
  pseudo parameter only); every Fn::GetAtt names a resource and an attribute its type has; every
  ${Name} and ${Resource.Attribute} in an Fn::Sub string names something that exists (or a
  variable of that Fn::Sub; ${!Literal} is an escape); Fn::If and Condition name a condition;
  literal Fn::FindInMap keys exist in Mappings; DependsOn names resources; intrinsic functions
  are known and have the right shape; condition functions appear only in Conditions;
- Outputs have a Value (and an Export has a Name); Parameters have a valid Type;
- the dependency graph of the resources (Ref, Fn::GetAtt, Fn::Sub references anywhere in a
  resource, and DependsOn) has no cycle; a cycle is reported with its members.

What is deliberately accepted (CloudFormation accepts or resolves it):
- an intrinsic function in place of any scalar (its value is only known at deploy time), except
  one that yields a list (Fn::Split, Fn::GetAZs, Fn::Cidr, a Ref to a List<...> or
  CommaDelimitedList parameter, an Fn::GetAtt of a list attribute); where a list is wanted, those
  list-yielding functions pass, and Fn::FindInMap, Fn::Select and Fn::Transform pass anywhere
  (their result's shape is not known here); each branch of an Fn::If is checked on its own;
  Ref AWS::NoValue passes anywhere;
- an integer written as a string of digits ("5") and a boolean written as "true"/"false"
  (CloudFormation converts both); a number for a string (CloudFormation turns it into its
  text). Not accepted: a float or a boolean where an integer is wanted, a boolean where a string
  is wanted (in YAML 1.1 `yes`, `no`, `on`, `off` are booleans: quote them);
- a json property takes a mapping or a list (not a scalar); where the schema says "json or
  string" a string passes too;
- a property's previous type (the schemas' previousTypes) does not pass: new templates are held
  to the current type.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - depends on the interpreter
    # `python3` may be a pyenv interpreter that does not see Debian's python3-yaml; the pure-Python
    # part of Debian's package works on any Python 3, so look there last.
    _debian = "/usr/lib/python3/dist-packages"
    if os.path.isdir(os.path.join(_debian, "yaml")):
        sys.path.append(_debian)
    try:
        import yaml
    except ImportError:
        yaml = None

PACKAGE = "@aws-cdk/aws-service-spec"
PACKAGE_VERSION = "0.1.216"
REPO = Path(__file__).resolve().parents[2]


def npm_dir() -> Path:
    env = os.environ.get("WRITEGATE_NPM_DIR")
    return Path(env) if env else REPO / ".deps" / "npm"


def default_db_path() -> Path:
    return npm_dir() / "node_modules" / "@aws-cdk" / "aws-service-spec" / "db.json.gz"


# ---------------------------------------------------------------------------------------------
# The schemas

SCALARS = ("string", "integer", "number", "boolean", "date-time")
KNOWN_FORMS = SCALARS + ("json", "tag", "array", "map", "ref", "union")


class DbError(Exception):
    pass


class SpecDb:
    """Resource types and their property types, from @aws-cdk/aws-service-spec's db.json.gz."""

    def __init__(self, path: Path | str):
        path = Path(path)
        if not path.is_file():
            raise DbError(f"{path}: no such file (run scripts/install-packages: it installs "
                          f"{PACKAGE}@{PACKAGE_VERSION} under {npm_dir()})")
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                data = json.load(f)
            self.path = path
            schema = data["schema"]
            self.resources = {r["cloudFormationType"]: r for r in schema["resource"]["entities"]}
            self.types = {t["$id"]: t for t in schema["typeDefinition"]["entities"]}
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DbError(f"{path}: not a readable {PACKAGE} db ({e})") from e
        # Every type form the checker meets must be one it knows: an unknown form would pass
        # silently otherwise.
        for r in self.resources.values():
            for name, p in r.get("properties", {}).items():
                self._validate_form(p["type"], f"{r['cloudFormationType']}.{name}")
            for name, a in r.get("attributes", {}).items():
                self._validate_form(a["type"], f"{r['cloudFormationType']} attribute {name}")
        for t in self.types.values():
            for name, p in t.get("properties", {}).items():
                self._validate_form(p["type"], f"type {t['name']}.{name}")

    def _validate_form(self, t: dict, where: str) -> None:
        form = t.get("type")
        if form not in KNOWN_FORMS:
            raise DbError(f"{self.path}: {where}: type form {form!r} is unknown to this "
                          f"checker (teach tests/deploy/cfn_schema_check.py about it)")
        if form in ("array", "map"):
            self._validate_form(t["element"], where)
        elif form == "union":
            for m in t["types"]:
                self._validate_form(m, where)
        elif form == "ref":
            if t["reference"]["$ref"] not in self.types:
                raise DbError(f"{where}: reference to unknown type definition "
                              f"{t['reference']['$ref']}")

    def typedef(self, t: dict) -> dict:
        return self.types[t["reference"]["$ref"]]


def type_name(db: SpecDb, t: dict) -> str:
    form = t["type"]
    if form == "array":
        return f"list of {type_name(db, t['element'])}"
    if form == "map":
        return f"map of {type_name(db, t['element'])}"
    if form == "ref":
        return f"structure {db.typedef(t)['name']}"
    if form == "union":
        return " or ".join(type_name(db, m) for m in t["types"])
    if form == "json":
        return "JSON object"
    return form


# ---------------------------------------------------------------------------------------------
# Reading the template: the short intrinsic tags become the long form.

class _Loader(yaml.SafeLoader if yaml else object):  # type: ignore[misc]
    pass


def _short_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, dot, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute] if dot else [resource]}
    return {"Fn::" + suffix: value}


def _construct_mapping(loader, node, deep=False):
    # CloudFormation refuses a key given twice; PyYAML would keep the last one silently.
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)):
            continue  # a list or mapping as a key: CloudFormation refuses it, YAML reports it
        if key in seen:
            loader.duplicate_keys.append((key_node.start_mark.line + 1, key))  # 1-based
        seen[key] = True
    loader.flatten_mapping(node)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


if yaml:
    _Loader.add_multi_constructor("!", _short_tag)
    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    # Dates stay text, as CloudFormation keeps them.
    _Loader.yaml_implicit_resolvers = {
        k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


def load_template_text(text: str):
    """Returns (template, duplicate_keys) where duplicate_keys lists (line, key)."""
    loader = _Loader(text)
    loader.duplicate_keys = []
    try:
        return loader.get_single_data(), loader.duplicate_keys
    finally:
        loader.dispose()


# ---------------------------------------------------------------------------------------------
# The check

PSEUDO = {"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
          "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}
SECTIONS = {"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules",
            "Mappings", "Conditions", "Transform", "Resources", "Outputs", "Hooks"}
RESOURCE_KEYS = {"Type", "Properties", "DependsOn", "Condition", "Metadata", "DeletionPolicy",
                 "UpdateReplacePolicy", "CreationPolicy", "UpdatePolicy"}
DELETION_POLICIES = {"Delete", "Retain", "RetainExceptOnCreate", "Snapshot"}
UPDATE_REPLACE_POLICIES = {"Delete", "Retain", "Snapshot"}
PARAMETER_KEYS = {"Type", "Default", "AllowedValues", "AllowedPattern", "ConstraintDescription",
                  "Description", "MaxLength", "MaxValue", "MinLength", "MinValue", "NoEcho"}
PARAMETER_TYPE = re.compile(
    r"^(String|Number|List<Number>|CommaDelimitedList|AWS::[A-Za-z0-9]+(::[A-Za-z0-9]+)+"
    r"|List<AWS::[A-Za-z0-9]+(::[A-Za-z0-9]+)+>|AWS::SSM::Parameter::Value<.+>)$")
OUTPUT_KEYS = {"Description", "Value", "Export", "Condition"}
LOGICAL_ID = re.compile(r"^[A-Za-z0-9]+$")
CUSTOM_TYPE = re.compile(r"^Custom::[A-Za-z0-9_@-]{1,60}$")
CONDITION_FUNCTIONS = {"Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"}
LANGUAGE_EXTENSIONS = {"Fn::Length", "Fn::ToJsonString", "Fn::ForEach"}
INTRINSICS = {"Fn::Base64", "Fn::Cidr", "Fn::FindInMap", "Fn::GetAtt", "Fn::GetAZs",
              "Fn::ImportValue", "Fn::Join", "Fn::Select", "Fn::Split", "Fn::Sub", "Fn::Transform",
              "Fn::If"} | CONDITION_FUNCTIONS | LANGUAGE_EXTENSIONS
SUB_VAR = re.compile(r"\$\{([^}]*)\}")


@dataclass
class Finding:
    path: str
    message: str

    def render(self, name: str) -> str:
        return f"{name}: {self.path}: {self.message}"


@dataclass
class Report:
    name: str
    findings: list[Finding] = field(default_factory=list)
    resources: int = 0
    types: int = 0
    properties: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def lines(self) -> list[str]:
        return [f.render(self.name) for f in self.findings]

    def summary(self) -> str:
        return (f"{self.name}: {self.resources} resources of {self.types} types, "
                f"{self.properties} properties checked: no finding")


def is_intrinsic(v) -> bool:
    return (isinstance(v, dict) and len(v) == 1
            and next(iter(v)) is not None and isinstance(next(iter(v)), str)
            and (next(iter(v)) == "Ref" or next(iter(v)).startswith("Fn::")))


def _describe(v) -> str:
    if isinstance(v, bool):
        return f"the boolean {str(v).lower()}"
    if isinstance(v, int):
        return f"the integer {v}"
    if isinstance(v, float):
        return f"the number {v}"
    if isinstance(v, str):
        return f"the string {json.dumps(v)}"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a mapping"
    if v is None:
        return "null"
    return type(v).__name__


def _same_shape(v, t: dict) -> bool:
    form = t["type"]
    if isinstance(v, dict):
        return form in ("ref", "map", "tag", "json")
    if isinstance(v, list):
        return form in ("array", "json")
    return form in SCALARS


def _name(v) -> str:
    return json.dumps(v) if isinstance(v, str) else _describe(v)


def _a(kind: str) -> str:
    return ("an " if kind[:1] in "aeiouAEIOU" else "a ") + kind


class Checker:
    def __init__(self, db: SpecDb, template, name: str, duplicate_keys=()):
        self.db = db
        self.t = template
        self.report = Report(name)
        self.duplicate_keys = list(duplicate_keys)
        self.resource_types: set[str] = set()
        self.edges: dict[str, set[str]] = {}

    # -- helpers ---------------------------------------------------------------------------
    def find(self, path: str, message: str) -> None:
        self.report.findings.append(Finding(path, message))

    def section(self, name: str) -> dict:
        s = self.t.get(name) if isinstance(self.t, dict) else None
        return s if isinstance(s, dict) else {}

    @property
    def resources(self) -> dict:
        return self.section("Resources")

    @property
    def parameters(self) -> dict:
        return self.section("Parameters")

    @property
    def conditions(self) -> dict:
        return self.section("Conditions")

    def transforms(self) -> set[str]:
        tr = self.t.get("Transform") if isinstance(self.t, dict) else None
        if isinstance(tr, str):
            return {tr}
        if isinstance(tr, list):
            return {x for x in tr if isinstance(x, str)}
        return set()

    def resource_type(self, logical_id: str):
        r = self.resources.get(logical_id)
        return r.get("Type") if isinstance(r, dict) else None

    def schema_of(self, logical_id: str):
        ty = self.resource_type(logical_id)
        if isinstance(ty, str) and CUSTOM_TYPE.match(ty):
            ty = "AWS::CloudFormation::CustomResource"
        return self.db.resources.get(ty) if isinstance(ty, str) else None

    def param_is_list(self, name: str) -> bool:
        p = self.parameters.get(name)
        ty = p.get("Type") if isinstance(p, dict) else None
        if not isinstance(ty, str):
            return False
        return (ty.startswith("List<") or ty == "CommaDelimitedList"
                or ty.startswith("AWS::SSM::Parameter::Value<List<")
                or ty == "AWS::SSM::Parameter::Value<CommaDelimitedList>")

    # -- run -------------------------------------------------------------------------------
    def run(self) -> Report:
        for line, key in self.duplicate_keys:
            self.find(f"line {line}", f"key {_name(key)} appears twice in one mapping")
        if not isinstance(self.t, dict):
            self.find("(template)", "the template is not a mapping")
            return self.report
        for k in self.t:
            if k not in SECTIONS:
                self.find(str(k), "unknown template section")
        self._nulls(self.t, "")
        self.check_parameters()
        self.check_mappings_and_conditions()
        self.check_resources()
        self.check_outputs()
        self.walk_references()
        self.check_cycles()
        return self.report

    def _nulls(self, v, path: str) -> None:
        if v is None:
            self.find(path or "(template)", "null value (CloudFormation refuses null values)")
        elif isinstance(v, dict):
            for k, x in v.items():
                self._nulls(x, f"{path}.{k}" if path else str(k))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                self._nulls(x, f"{path}[{i}]")

    def check_logical_ids(self, section: str) -> None:
        for name in self.section(section):
            if not isinstance(name, str) or not LOGICAL_ID.match(name):
                self.find(f"{section}.{name}", "logical id is not alphanumeric")

    def check_parameters(self) -> None:
        self.check_logical_ids("Parameters")
        for name, p in self.parameters.items():
            path = f"Parameters.{name}"
            if name in self.resources:
                self.find(path, "a resource has the same logical id")
            if not isinstance(p, dict):
                self.find(path, "a parameter must be a mapping")
                continue
            for k in p:
                if k not in PARAMETER_KEYS:
                    self.find(f"{path}.{k}", "unknown parameter attribute")
            ty = p.get("Type")
            if ty is None:
                self.find(path, "missing Type")
            elif not isinstance(ty, str) or not PARAMETER_TYPE.match(ty):
                self.find(f"{path}.Type", f"{_describe(ty)} is no parameter type")
            allowed = p.get("AllowedValues")
            if "Default" in p and isinstance(allowed, list) and not self.param_is_list(name):
                if str(p["Default"]) not in [str(a) for a in allowed]:
                    self.find(f"{path}.Default", "the default is not one of AllowedValues")

    def check_mappings_and_conditions(self) -> None:
        self.check_logical_ids("Mappings")
        for name, m in self.section("Mappings").items():
            if not isinstance(m, dict) or not all(isinstance(x, dict) for x in m.values()):
                self.find(f"Mappings.{name}", "a mapping must map keys to mappings")
        self.check_logical_ids("Conditions")

    def check_resources(self) -> None:
        if not isinstance(self.t.get("Resources"), dict) or not self.t["Resources"]:
            self.find("Resources", "the template has no resources")
            return
        self.check_logical_ids("Resources")
        transforms = self.transforms()
        for lid, r in self.resources.items():
            path = f"Resources.{lid}"
            self.report.resources += 1
            if not isinstance(r, dict):
                self.find(path, "a resource must be a mapping")
                continue
            for k in r:
                if k not in RESOURCE_KEYS:
                    self.find(f"{path}.{k}", "unknown resource attribute")
            dp = r.get("DeletionPolicy")
            if dp is not None and not is_intrinsic(dp) and dp not in DELETION_POLICIES:
                self.find(f"{path}.DeletionPolicy", f"{_describe(dp)} is not one of "
                          f"{', '.join(sorted(DELETION_POLICIES))}")
            urp = r.get("UpdateReplacePolicy")
            if urp is not None and not is_intrinsic(urp) and urp not in UPDATE_REPLACE_POLICIES:
                self.find(f"{path}.UpdateReplacePolicy", f"{_describe(urp)} is not one of "
                          f"{', '.join(sorted(UPDATE_REPLACE_POLICIES))}")
            cond = r.get("Condition")
            if cond is not None and (not isinstance(cond, str) or cond not in self.conditions):
                self.find(f"{path}.Condition", f"{_name(cond)} is no condition of Conditions")
            self.check_depends_on(lid, r)
            ty = r.get("Type")
            if "Type" not in r:
                self.find(path, "missing Type")
                continue
            if not isinstance(ty, str):
                self.find(f"{path}.Type", f"{_describe(ty)} is no resource type")
                continue
            custom = bool(CUSTOM_TYPE.match(ty)) or ty == "AWS::CloudFormation::CustomResource"
            schema = self.schema_of(lid)
            if schema is None:
                self.find(f"{path}.Type", f"unknown resource type {json.dumps(ty)}")
                continue
            self.resource_types.add(ty)
            transform = schema.get("cloudFormationTransform")
            if transform and transform not in transforms:
                self.find(f"{path}.Type", f"{ty} needs `Transform: {transform}`")
            props = r.get("Properties", {})
            ppath = f"{path}.Properties"
            if is_intrinsic(props) and "Fn::If" in props:
                continue  # rare; the reference walk still checks its contents
            if not isinstance(props, dict):
                self.find(ppath, f"a mapping is wanted, got {_describe(props)}")
                continue
            self.check_struct(props, schema["properties"], ty, ppath, self.report.findings,
                              open_=custom)
        self.report.types = len(self.resource_types)

    def check_depends_on(self, lid: str, r: dict) -> None:
        if "DependsOn" not in r:
            return
        d = r["DependsOn"]
        names = d if isinstance(d, list) else [d]
        for i, n in enumerate(names):
            p = f"Resources.{lid}.DependsOn" + (f"[{i}]" if isinstance(d, list) else "")
            if not isinstance(n, str):
                self.find(p, f"{_describe(n)} is no logical id")
            elif n not in self.resources:
                self.find(p, f"{json.dumps(n)} is no resource")
            else:
                self.edges.setdefault(lid, set()).add(n)

    def check_outputs(self) -> None:
        self.check_logical_ids("Outputs")
        for name, o in self.section("Outputs").items():
            path = f"Outputs.{name}"
            if not isinstance(o, dict):
                self.find(path, "an output must be a mapping")
                continue
            for k in o:
                if k not in OUTPUT_KEYS:
                    self.find(f"{path}.{k}", "unknown output attribute")
            if "Value" not in o:
                self.find(path, "missing Value")
            elif isinstance(o["Value"], (list, dict)) and not is_intrinsic(o["Value"]):
                self.find(f"{path}.Value", f"a string is wanted, got {_describe(o['Value'])}")
            if "Export" in o:
                e = o["Export"]
                if not isinstance(e, dict) or "Name" not in e or len(e) != 1:
                    self.find(f"{path}.Export", "an export is a mapping with Name only")
            cond = o.get("Condition")
            if cond is not None and (not isinstance(cond, str) or cond not in self.conditions):
                self.find(f"{path}.Condition", f"{_name(cond)} is no condition of Conditions")

    # -- values against the schema ---------------------------------------------------------
    def check_struct(self, v: dict, props: dict, owner: str, path: str, out: list,
                     open_=False) -> None:
        for k, x in v.items():
            p = props.get(k)
            if p is None:
                if not open_:
                    out.append(Finding(f"{path}.{k}", f"unknown property of {owner}"))
                continue
            if out is self.report.findings:  # not while trying the members of a union
                self.report.properties += 1
            self.check_value(x, p["type"], f"{path}.{k}", out)
        for k, p in props.items():
            if p.get("required") and k not in v:
                out.append(Finding(path, f"missing required property {k} of {owner}"))

    def intrinsic_kind(self, v: dict) -> str:
        """'list', 'scalar', 'any' or 'novalue': what the function yields, as far as known."""
        fn, arg = next(iter(v.items()))
        if fn == "Ref":
            if arg == "AWS::NoValue":
                return "novalue"
            if arg == "AWS::NotificationARNs" or (isinstance(arg, str) and self.param_is_list(arg)):
                return "list"
            if isinstance(arg, str) and (arg in self.parameters or arg in self.resources
                                         or arg in PSEUDO):
                return "scalar"
            return "any"  # reported by the reference walk
        if fn == "Fn::GetAtt":
            ga = self.getatt_parts(arg)
            if ga and isinstance(ga[1], str):
                schema = self.schema_of(ga[0])
                attr = schema["attributes"].get(ga[1]) if schema else None
                if attr:
                    form = attr["type"]["type"]
                    if form == "array":
                        return "list"
                    if form in SCALARS:
                        return "scalar"
            return "any"
        if fn in ("Fn::Split", "Fn::GetAZs", "Fn::Cidr"):
            return "list"
        if fn in ("Fn::Join", "Fn::Sub", "Fn::Base64", "Fn::ImportValue", "Fn::Length",
                  "Fn::ToJsonString") or fn in CONDITION_FUNCTIONS:
            return "scalar"
        return "any"  # Fn::FindInMap, Fn::Select, Fn::Transform, unknown (reported elsewhere)

    def check_value(self, v, t: dict, path: str, out: list) -> None:
        form = t["type"]
        if v is None:
            return  # reported once by the null walk
        if is_intrinsic(v) and "Fn::If" in v:
            arg = v["Fn::If"]
            if isinstance(arg, list) and len(arg) == 3:  # else the reference walk reports it
                self.check_value(arg[1], t, f"{path}.Fn::If[1]", out)
                self.check_value(arg[2], t, f"{path}.Fn::If[2]", out)
            return
        if form == "union":
            tries = []
            for m in t["types"]:
                sub: list[Finding] = []
                self.check_value(v, m, path, sub)
                if not sub:
                    return
                tries.append((m, sub))
            # When the value has the shape of some members (a mapping for a structure, a list
            # for a list), say what is wrong inside the closest of those; else name them all.
            shaped = [sub for m, sub in tries if _same_shape(v, m)]
            if shaped and isinstance(v, (dict, list)) and not is_intrinsic(v):
                out.extend(min(shaped, key=len))
            else:
                out.append(Finding(path, f"{_a(type_name(self.db, t))} is wanted, got "
                                         f"{_describe(v)}"))
            return
        if is_intrinsic(v):
            fn, arg = next(iter(v.items()))
            kind = self.intrinsic_kind(v)
            if kind in ("novalue", "any"):
                return
            if form == "json":
                return
            if form == "array":
                if kind != "list":
                    out.append(Finding(path, f"{_a(type_name(self.db, t))} is wanted, {fn} "
                                             f"gives a single value"))
                return
            if kind == "list":
                out.append(Finding(path, f"{_a(type_name(self.db, t))} is wanted, {fn} gives "
                                         f"a list"))
                return
            if form in ("ref", "map", "tag"):
                out.append(Finding(path, f"{_a(type_name(self.db, t))} is wanted, {fn} gives "
                                         f"a single value"))
            return
        wanted = _a(type_name(self.db, t))
        if form == "string" or form == "date-time":
            if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                out.append(Finding(path, f"{wanted} is wanted, got {_describe(v)}"))
                return
        elif form == "integer":
            if isinstance(v, bool) or isinstance(v, float) or not (
                    isinstance(v, int) or (isinstance(v, str) and re.fullmatch(r"[+-]?\d+", v))):
                out.append(Finding(path, f"{wanted} is wanted, got {_describe(v)}"))
                return
        elif form == "number":
            if isinstance(v, bool) or not (isinstance(v, (int, float)) or (
                    isinstance(v, str) and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?",
                                                        v))):
                out.append(Finding(path, f"{wanted} is wanted, got {_describe(v)}"))
                return
        elif form == "boolean":
            if not (isinstance(v, bool) or (isinstance(v, str) and v.lower() in ("true", "false"))):
                out.append(Finding(path, f"{wanted} is wanted, got {_describe(v)}"))
            return
        elif form == "json":
            if not isinstance(v, (dict, list)):
                out.append(Finding(path, f"{wanted} is wanted, got {_describe(v)}"))
            return
        elif form == "array":
            if not isinstance(v, list):
                out.append(Finding(path, f"{wanted} is wanted, got {_describe(v)}"))
                return
            for i, x in enumerate(v):
                self.check_value(x, t["element"], f"{path}[{i}]", out)
            return
        elif form == "map":
            if not isinstance(v, dict):
                out.append(Finding(path, f"{wanted} is wanted, got {_describe(v)}"))
                return
            for k, x in v.items():
                if not isinstance(k, str):
                    out.append(Finding(path, f"map key {_describe(k)} is not a string"))
                self.check_value(x, t["element"], f"{path}.{k}", out)
            return
        elif form == "tag":
            if not isinstance(v, dict):
                out.append(Finding(path, f"a tag (Key, Value) is wanted, got {_describe(v)}"))
                return
            for k, x in v.items():
                if k not in ("Key", "Value"):
                    out.append(Finding(f"{path}.{k}", "unknown property of a tag"))
                else:
                    self.check_value(x, {"type": "string"}, f"{path}.{k}", out)
            for k in ("Key", "Value"):
                if k not in v:
                    out.append(Finding(path, f"missing required property {k} of a tag"))
            return
        elif form == "ref":
            td = self.db.typedef(t)
            if not isinstance(v, dict):
                out.append(Finding(path, f"{wanted} is wanted, got {_describe(v)}"))
                return
            self.check_struct(v, td["properties"], td["name"], path, out)
            return
        else:  # SpecDb refuses unknown forms when loading; this keeps it honest.
            raise DbError(f"type form {form!r} is unknown to this checker")
        allowed = t.get("allowedValues")
        if allowed is not None:
            if form == "integer":
                ok = int(v) in [int(a) for a in allowed]
            else:
                ok = str(v) in [str(a) for a in allowed]
            if not ok:
                out.append(Finding(path, f"{json.dumps(v)} is not one of "
                                         f"{', '.join(str(a) for a in allowed)}"))

    # -- references ------------------------------------------------------------------------
    @staticmethod
    def getatt_parts(arg):
        if isinstance(arg, str):
            r, dot, a = arg.partition(".")
            return [r, a] if dot else None
        if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str):
            return arg
        return None

    def walk_references(self) -> None:
        for lid, r in self.resources.items():
            if isinstance(r, dict):
                for k, v in r.items():
                    if k not in ("Type", "DependsOn", "Condition"):
                        self.walk(v, f"Resources.{lid}.{k}", "resource", lid)
        for name, o in self.section("Outputs").items():
            if isinstance(o, dict):
                for k, v in o.items():
                    if k != "Condition":
                        self.walk(v, f"Outputs.{name}.{k}", "output", None)
        for name, c in self.conditions.items():
            self.walk(c, f"Conditions.{name}", "condition", None)
            if not (isinstance(c, dict) and len(c) == 1
                    and next(iter(c)) in CONDITION_FUNCTIONS | {"Condition"}):
                self.find(f"Conditions.{name}", "a condition must be Fn::Equals, Fn::Not, "
                                                "Fn::And, Fn::Or or Condition")

    def ref_target(self, name, path: str, context: str, owner, what: str) -> None:
        if not isinstance(name, str):
            self.find(path, f"{what} of {_describe(name)}: a logical id is wanted")
            return
        if name in PSEUDO:
            return
        if name in self.parameters:
            return
        if name in self.resources:
            if context == "condition":
                self.find(path, f"{what} to resource {json.dumps(name)}: Conditions can refer "
                                f"to parameters only")
            elif owner is not None:
                self.edges.setdefault(owner, set()).add(name)
            return
        if name.startswith("AWS::"):
            self.find(path, f"{what} to {json.dumps(name)}, which is no pseudo parameter")
        else:
            self.find(path, f"{what} to {json.dumps(name)}, which is no parameter, resource or "
                            f"pseudo parameter")

    def getatt_target(self, resource, attribute, path: str, context: str, owner, label: str):
        """`label` names the reference in a finding: `Fn::GetAtt A.B` or `Fn::Sub ${A.B}`."""
        if not isinstance(resource, str) or resource not in self.resources:
            extra = " (it is a parameter)" if resource in self.parameters else ""
            self.find(path, f"{label}: {json.dumps(resource)} is no resource{extra}")
            return
        if context == "condition":
            self.find(path, f"{label}: Conditions can refer to parameters only")
            return
        if owner is not None:
            self.edges.setdefault(owner, set()).add(resource)
        if not isinstance(attribute, str):
            return  # an attribute given by Ref is only known at deploy time
        ty = self.resource_type(resource)
        if isinstance(ty, str) and (CUSTOM_TYPE.match(ty)
                                    or ty == "AWS::CloudFormation::CustomResource"):
            return  # custom resources return whatever attributes their function sends
        schema = self.schema_of(resource)
        if schema is None:
            return  # the unknown type is reported already
        attrs = schema.get("attributes", {})
        if attribute in attrs:
            return
        if ty == "AWS::CloudFormation::Stack" and attribute.startswith("Outputs."):
            return
        have = ", ".join(sorted(attrs)) or "none"
        self.find(path, f"{label}: {ty} has no attribute {json.dumps(attribute)} "
                        f"(it has: {have})")

    def walk(self, v, path: str, context: str, owner) -> None:
        if isinstance(v, list):
            for i, x in enumerate(v):
                self.walk(x, f"{path}[{i}]", context, owner)
            return
        if not isinstance(v, dict):
            return
        if context == "condition" and list(v) == ["Condition"]:
            c = v["Condition"]
            if not isinstance(c, str) or c not in self.conditions:
                self.find(path, f"Condition names {_name(c)}, which is not in Conditions")
            return
        if not is_intrinsic(v):
            for k, x in v.items():
                self.walk(x, f"{path}.{k}", context, owner)
            return
        fn, arg = next(iter(v.items()))
        here = f"{path}.{fn}" if fn != "Ref" else path

        def shape(ok: bool, what: str) -> bool:
            if not ok:
                self.find(path, f"{fn} wants {what}, got {_describe(arg)}")
            return ok

        if fn == "Ref":
            self.ref_target(arg, path, context, owner, "Ref")
            return
        if fn not in INTRINSICS:
            self.find(path, f"unknown intrinsic function {fn}")
            return
        if fn in CONDITION_FUNCTIONS and context != "condition":
            self.find(path, f"{fn} can only be used in Conditions")
        if fn in LANGUAGE_EXTENSIONS and "AWS::LanguageExtensions" not in self.transforms():
            self.find(path, f"{fn} needs `Transform: AWS::LanguageExtensions`")
        if fn == "Fn::GetAtt":
            parts = self.getatt_parts(arg)
            if shape(parts is not None, "[Resource, Attribute] or \"Resource.Attribute\""):
                label = f"Fn::GetAtt {parts[0]}." + (parts[1] if isinstance(parts[1], str)
                                                     else "(computed)")
                self.getatt_target(parts[0], parts[1], path, context, owner, label)
                if not isinstance(parts[1], str):
                    self.walk(parts[1], f"{here}[1]", context, owner)
            return
        if fn == "Fn::Sub":
            if isinstance(arg, str):
                text, variables = arg, {}
            elif (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)
                  and isinstance(arg[1], dict)):
                text, variables = arg
                self.walk(variables, f"{here}[1]", context, owner)
            else:
                shape(False, "a string or [string, {variables}]")
                return
            for m in SUB_VAR.finditer(text):
                name = m.group(1).strip()
                if name.startswith("!") or name in variables:
                    continue
                if "." in name:
                    r, _, a = name.partition(".")
                    self.getatt_target(r, a, path, context, owner, f"Fn::Sub ${{{name}}}")
                elif name in PSEUDO or name in self.parameters or name in self.resources:
                    self.ref_target(name, path, context, owner, f"Fn::Sub ${{{name}}}: Ref")
                else:
                    self.find(path, f"Fn::Sub names ${{{name}}}, which is no parameter, "
                                    f"resource, pseudo parameter or variable of this Fn::Sub")
            return
        if fn == "Fn::If":
            if shape(isinstance(arg, list) and len(arg) == 3, "[condition, then, else]"):
                c = arg[0]
                if not isinstance(c, str) or c not in self.conditions:
                    self.find(path, f"Fn::If names condition {_name(c)}, which is not in "
                                    f"Conditions")
                self.walk(arg[1], f"{here}[1]", context, owner)
                self.walk(arg[2], f"{here}[2]", context, owner)
            return
        if fn == "Fn::FindInMap":
            if shape(isinstance(arg, list) and len(arg) in (3, 4), "[map, key, key]"):
                self.check_find_in_map(arg, path)
                self.walk(arg, here, context, owner)
            return
        checks = {
            "Fn::Select": (lambda a: isinstance(a, list) and len(a) == 2, "[index, list]"),
            "Fn::Split": (lambda a: isinstance(a, list) and len(a) == 2
                          and isinstance(a[0], str), "[delimiter, string]"),
            "Fn::Join": (lambda a: isinstance(a, list) and len(a) == 2
                         and isinstance(a[0], str), "[delimiter, list]"),
            "Fn::Cidr": (lambda a: isinstance(a, list) and len(a) == 3, "[block, count, bits]"),
            "Fn::Equals": (lambda a: isinstance(a, list) and len(a) == 2, "[value, value]"),
            "Fn::Not": (lambda a: isinstance(a, list) and len(a) == 1, "[condition]"),
            "Fn::And": (lambda a: isinstance(a, list) and 2 <= len(a) <= 10,
                        "a list of 2 to 10 conditions"),
            "Fn::Or": (lambda a: isinstance(a, list) and 2 <= len(a) <= 10,
                       "a list of 2 to 10 conditions"),
            "Fn::GetAZs": (lambda a: isinstance(a, str) or is_intrinsic(a), "a region"),
            "Fn::ImportValue": (lambda a: isinstance(a, str) or is_intrinsic(a), "a name"),
        }
        if fn in checks:
            ok, what = checks[fn]
            shape(ok(arg), what)
        if fn == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
            lst = arg[1]
            if is_intrinsic(lst):
                if self.intrinsic_kind(lst) == "scalar":
                    self.find(path, f"Fn::Join wants a list to join, {next(iter(lst))} gives a "
                                    f"single value")
            elif not isinstance(lst, list):
                self.find(path, f"Fn::Join wants a list to join, got {_describe(lst)}")
        self.walk(arg, here, context, owner)

    def check_find_in_map(self, arg: list, path: str) -> None:
        mappings = self.section("Mappings")
        m, k1, k2 = arg[0], arg[1], arg[2]
        if not isinstance(m, str):
            return
        if m not in mappings:
            self.find(path, f"Fn::FindInMap names mapping {json.dumps(m)}, which is not in "
                            f"Mappings")
            return
        if len(arg) == 4:
            return  # a DefaultValue covers missing keys
        mm = mappings[m]
        if isinstance(k1, str) and isinstance(mm, dict):
            if k1 not in mm:
                self.find(path, f"Fn::FindInMap: mapping {m} has no key {json.dumps(k1)}")
            elif isinstance(k2, str) and isinstance(mm[k1], dict) and k2 not in mm[k1]:
                self.find(path, f"Fn::FindInMap: {m}.{k1} has no key {json.dumps(k2)}")

    # -- cycles ----------------------------------------------------------------------------
    def check_cycles(self) -> None:
        nodes = sorted(self.resources)
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        on_stack: set[str] = set()
        stack: list[str] = []
        sccs: list[list[str]] = []
        counter = [0]

        def strong(n: str) -> None:  # Tarjan, iterative enough for templates (< 500 resources)
            index[n] = low[n] = counter[0]
            counter[0] += 1
            stack.append(n)
            on_stack.add(n)
            for m in sorted(self.edges.get(n, ())):
                if m not in index:
                    strong(m)
                    low[n] = min(low[n], low[m])
                elif m in on_stack:
                    low[n] = min(low[n], index[m])
            if low[n] == index[n]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == n:
                        break
                sccs.append(sorted(comp))

        for n in nodes:
            if n not in index:
                strong(n)
        for comp in sorted(sccs):
            if len(comp) == 1 and comp[0] not in self.edges.get(comp[0], ()):
                continue
            self.find("Resources", f"dependency cycle among {', '.join(comp)}: "
                                   f"{' -> '.join(self.cycle_path(comp))}")

    def cycle_path(self, comp: list[str]) -> list[str]:
        members = set(comp)
        start = comp[0]
        # Shortest way from start back to start inside the component.
        prev: dict[str, str] = {}
        frontier = [start]
        seen = set()
        while frontier:
            nxt = []
            for n in frontier:
                for m in sorted(self.edges.get(n, ())):
                    if m not in members:
                        continue
                    if m == start:
                        path = [start]
                        x = n
                        while x != start:
                            path.append(x)
                            x = prev[x]
                        path.append(start)
                        return [path[0]] + list(reversed(path[1:-1])) + [start]
                    if m not in seen:
                        seen.add(m)
                        prev[m] = n
                        nxt.append(m)
            frontier = nxt
        return comp + [start]


# ---------------------------------------------------------------------------------------------
# Entry points

def check_text(text: str, db: SpecDb, name: str = "template.yaml") -> Report:
    """Checks a template given as YAML text; `name` prefixes each finding."""
    if yaml is None:
        raise RuntimeError("PyYAML is missing (Debian package python3-yaml; run "
                           "scripts/install-packages)")
    try:
        template, duplicates = load_template_text(text)
    except yaml.YAMLError as e:
        report = Report(name)
        report.findings.append(Finding("(yaml)", "not valid YAML: " + " ".join(str(e).split())))
        return report
    return Checker(db, template, name, duplicates).run()


def check_file(path: Path | str, db: SpecDb | None = None) -> Report:
    """Checks the template file at `path` (the db defaults to the one install-packages put)."""
    path = Path(path)
    return check_text(path.read_text(encoding="utf-8"), db or SpecDb(default_db_path()), path.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cfn_schema_check.py",
        description="Check a CloudFormation template against AWS's resource schemas "
                    f"({PACKAGE}).")
    parser.add_argument("template", help="the template (YAML, short intrinsic tags allowed)")
    parser.add_argument("--db", help=f"{PACKAGE}'s db.json.gz (default: {default_db_path()})")
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    if yaml is None:
        print("cfn_schema_check: PyYAML is missing (Debian package python3-yaml; run "
              "scripts/install-packages)", file=sys.stderr)
        return 2
    try:
        db = SpecDb(args.db or default_db_path())
    except DbError as e:
        print(f"cfn_schema_check: {e}", file=sys.stderr)
        return 2
    try:
        text = Path(args.template).read_text(encoding="utf-8")
    except OSError as e:
        print(f"cfn_schema_check: {args.template}: {e.strerror}", file=sys.stderr)
        return 2
    report = check_text(text, db, Path(args.template).name)
    if report.findings:
        for line in report.lines():
            print(line)
        print(f"{report.name}: {len(report.findings)} finding(s)", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
