#!/usr/bin/env python3
"""The templates `writegate render cloudformation` makes, for the default spec and the specs of
tests/deploy/specs/ (each pairing of end-to-end IAM or SECRETS with a created or existing
cluster), against AWS's CloudFormation resource schemas
(cfn_schema_check.py): no finding, every resource type known, every Ref/GetAtt resolvable, no
cycle. Usage: rendered_template_check_test.py WRITEGATE_BINARY
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import cfn_schema_check as cfn  # noqa: E402

# The resource types each template must hold: a template that lost one would still pass the
# schema check, so the list is checked too.
EXPECTED_TYPES = {
    "default": {
        "AWS::IAM::Role", "AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress",
        "AWS::EC2::SecurityGroupEgress", "AWS::RDS::DBSubnetGroup", "AWS::RDS::DBCluster",
        "AWS::RDS::DBInstance", "AWS::Logs::LogGroup", "AWS::RDS::DBProxy",
        "AWS::RDS::DBProxyTargetGroup", "AWS::Lambda::Function", "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
    },
    "iam-existing": {
        "AWS::IAM::Role", "AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress",
        "AWS::EC2::SecurityGroupEgress", "AWS::Logs::LogGroup", "AWS::RDS::DBProxy",
        "AWS::RDS::DBProxyTargetGroup", "AWS::Lambda::Function", "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
    },
    "secrets-create": {
        "AWS::IAM::Role", "AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress",
        "AWS::EC2::SecurityGroupEgress", "AWS::SecretsManager::Secret", "AWS::RDS::DBSubnetGroup",
        "AWS::RDS::DBCluster", "AWS::RDS::DBInstance", "AWS::Logs::LogGroup", "AWS::RDS::DBProxy",
        "AWS::RDS::DBProxyTargetGroup", "AWS::Lambda::Function", "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
    },
    "other": {
        "AWS::IAM::Role", "AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress",
        "AWS::EC2::SecurityGroupEgress", "AWS::SecretsManager::Secret", "AWS::Logs::LogGroup",
        "AWS::RDS::DBProxy", "AWS::RDS::DBProxyTargetGroup", "AWS::Lambda::Function",
        "AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard",
    },
}


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: rendered_template_check_test.py WRITEGATE_BINARY", file=sys.stderr)
        return 2
    writegate = sys.argv[1]
    try:
        db = cfn.SpecDb(cfn.default_db_path())
    except cfn.DbError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    failed = 0
    specs = {"default": "/dev/null", "other": str(HERE / "specs" / "other.yaml"),
             "iam-existing": str(HERE / "specs" / "iam-existing.yaml"),
             "secrets-create": str(HERE / "specs" / "secrets-create.yaml")}
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in specs.items():
            out = Path(tmp) / name
            run = subprocess.run([writegate, "--spec", spec, "render", "cloudformation", "--out",
                                  str(out)], capture_output=True, text=True)
            if run.returncode != 0:
                print(f"FAIL {name}: writegate render exited {run.returncode}: {run.stderr}")
                failed += 1
                continue
            report = cfn.check_file(out / "template.yaml", db)
            for line in report.lines():
                print(f"{name}: {line}")
            if not report.ok:
                failed += 1
                continue
            template, _ = cfn.load_template_text((out / "template.yaml").read_text())
            types = {r["Type"] for r in template["Resources"].values()}
            if types != EXPECTED_TYPES[name]:
                print(f"FAIL {name}: resource types {sorted(types)}, expected "
                      f"{sorted(EXPECTED_TYPES[name])}")
                failed += 1
                continue
            print(f"ok   {name}: {report.summary()}")
    print(f"{len(specs) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
