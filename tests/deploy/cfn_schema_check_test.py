#!/usr/bin/env python3
"""cfn_schema_check.py can fail: a valid template passes, and each broken copy of it (one defect
each) gives exactly the expected finding. A missing db or a missing PyYAML fails this test (it
never skips): run scripts/install-packages.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKER = HERE / "cfn_schema_check.py"
VALID = HERE / "cfn_fixtures" / "valid.yaml"
sys.path.insert(0, str(HERE))
import cfn_schema_check as cfn  # noqa: E402

T = "template.yaml"

# (what is broken, text in valid.yaml (must occur once), its replacement, the one finding expected)
CASES = [
    ("unknown resource type",
     "Type: AWS::EC2::SecurityGroupEgress", "Type: AWS::EC2::SecurityGroupEgres",
     'Resources.LambdaToProxy.Type: unknown resource type "AWS::EC2::SecurityGroupEgres"'),
    ("unknown property",
     "DebugLogging: false", "DebugLoging: false",
     "Resources.Proxy.Properties.DebugLoging: unknown property of AWS::RDS::DBProxy"),
    ("unknown property in a structure",
     "MaxIdleConnectionsPercent: 50", "MaxIdlePercent: 50",
     "Resources.ProxyTargets.Properties.ConnectionPoolConfigurationInfo.MaxIdlePercent: "
     "unknown property of ConnectionPoolConfigurationInfoFormat"),
    ("missing required property",
     "      GroupDescription: rds-proxy-sg\n", "",
     "Resources.ProxySg.Properties: missing required property GroupDescription of "
     "AWS::EC2::SecurityGroup"),
    ("missing required property in a list of structures",
     "        - PolicyName: connect-as-writer\n          PolicyDocument:",
     "        - PolicyDocument:",
     "Resources.FunctionRole.Properties.Policies[0]: missing required property PolicyName of "
     "Policy"),
    ("missing Value of a tag",
     "        - Key: Name\n          Value: lambda-sg\n", "        - Key: Name\n",
     "Resources.LambdaSg.Properties.Tags[0]: missing required property Value of a tag"),
    ("a string where a list is wanted",
     "VpcSecurityGroupIds: [!Ref ProxySg]", "VpcSecurityGroupIds: sg-0123",
     'Resources.Proxy.Properties.VpcSecurityGroupIds: a list of string is wanted, got the '
     'string "sg-0123"'),
    ("a Ref to a String parameter where a list is wanted",
     "VpcSubnetIds: !Ref SubnetIds", "VpcSubnetIds: !Ref ClusterId",
     "Resources.Proxy.Properties.VpcSubnetIds: a list of string is wanted, Ref gives a single "
     "value"),
    ("a Ref to a List parameter where a string is wanted",
     "      GroupDescription: rds-proxy-sg\n      VpcId: !Ref VpcId",
     "      GroupDescription: rds-proxy-sg\n      VpcId: !Ref SubnetIds",
     "Resources.ProxySg.Properties.VpcId: a string is wanted, Ref gives a list"),
    ("a mapping where an integer is wanted",
     "IdleClientTimeout: 1800", "IdleClientTimeout: {Seconds: 1800}",
     "Resources.Proxy.Properties.IdleClientTimeout: an integer is wanted, got a mapping"),
    ("a float where an integer is wanted",
     "Timeout: 30", "Timeout: 30.5",
     "Resources.Function.Properties.Timeout: an integer is wanted, got the number 30.5"),
    ("a boolean where a string is wanted",
     "PGSSLMODE: verify-full", "PGSSLMODE: yes",
     "Resources.Function.Properties.Environment.Variables.PGSSLMODE: a string is wanted, got "
     "the boolean true"),
    ("a value outside allowedValues",
     "EngineFamily: POSTGRESQL", "EngineFamily: POSTGRES",
     'Resources.Proxy.Properties.EngineFamily: "POSTGRES" is not one of MYSQL, POSTGRESQL, '
     'SQLSERVER'),
    ("an integer outside allowedValues",
     "RetentionInDays: 30", "RetentionInDays: 31",
     "Resources.FunctionLogs.Properties.RetentionInDays: 31 is not one of 1, 3, 5, 7, 14, 30, "
     "60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653"),
    ("no member of a union",
     "      AssumeRolePolicyDocument:\n        Version: \"2012-10-17\"\n"
     "        Statement:\n          - Effect: Allow\n"
     "            Principal: {Service: rds.amazonaws.com}\n"
     "            Action: sts:AssumeRole\n",
     "      AssumeRolePolicyDocument: true\n",
     "Resources.ProxyRole.Properties.AssumeRolePolicyDocument: a JSON object or string is "
     "wanted, got the boolean true"),
    ("Ref to nothing",
     "DBProxyName: !Ref Proxy", "DBProxyName: !Ref Proxi",
     'Resources.ProxyTargets.Properties.DBProxyName: Ref to "Proxi", which is no parameter, '
     'resource or pseudo parameter'),
    ("Ref to an unknown pseudo parameter",
     '!Ref "AWS::Region", us-east-1', '!Ref "AWS::Regoin", us-east-1',
     'Conditions.InUsEast1.Fn::Equals[0]: Ref to "AWS::Regoin", which is no pseudo parameter'),
    ("Ref to a resource in Conditions",
     "!Equals [!Ref ReservedConcurrency, 0]", "!Equals [!Ref Proxy, 0]",
     'Conditions.HasReservedConcurrency.Fn::Not[0].Fn::Equals[0]: Ref to resource "Proxy": '
     "Conditions can refer to parameters only"),
    ("Ref to nothing in Outputs",
     "    Value: !GetAtt Function.Arn", "    Value: !Ref Functoin",
     'Outputs.FunctionArn.Value: Ref to "Functoin", which is no parameter, resource or pseudo '
     'parameter'),
    ("GetAtt of an unknown attribute",
     "PGHOST: !GetAtt Proxy.Endpoint", "PGHOST: !GetAtt Proxy.EndpointAddress",
     "Resources.Function.Properties.Environment.Variables.PGHOST: Fn::GetAtt "
     'Proxy.EndpointAddress: AWS::RDS::DBProxy has no attribute "EndpointAddress" (it has: '
     "DBProxyArn, Endpoint, VpcId)"),
    ("GetAtt of a parameter",
     "RoleArn: !GetAtt ProxyRole.Arn", "RoleArn: !GetAtt ClusterId.Arn",
     'Resources.Proxy.Properties.RoleArn: Fn::GetAtt ClusterId.Arn: "ClusterId" is no '
     "resource (it is a parameter)"),
    ("Sub with an unknown ${Name}",
     "dbuser:cluster-${ClusterId}/", "dbuser:cluster-${ClusterID}/",
     "Resources.ProxyRole.Properties.Policies[0].PolicyDocument.Statement[0].Resource: "
     "Fn::Sub names ${ClusterID}, which is no parameter, resource, pseudo parameter or "
     "variable of this Fn::Sub"),
    ("Sub with an unknown ${Resource.Attribute}",
     '"${AWS::StackName}-FunctionArn"', '"${Function.Arn}-${Function.Name}"',
     "Outputs.FunctionArn.Export.Name: Fn::Sub ${Function.Name}: AWS::Lambda::Function has no "
     'attribute "Name" (it has: Arn, SnapStartResponse, SnapStartResponse.ApplyOn, '
     "SnapStartResponse.OptimizationStatus)"),
    ("Fn::If on an unknown condition",
     "!If [HasReservedConcurrency,", "!If [HasReservedConcurency,",
     "Resources.Function.Properties.ReservedConcurrentExecutions: Fn::If names condition "
     '"HasReservedConcurency", which is not in Conditions'),
    ("an unknown intrinsic function",
     "!Select [6, !Split [\":\", !GetAtt Proxy.DBProxyArn]]\n    Condition",
     "!Pick [6, !Split [\":\", !GetAtt Proxy.DBProxyArn]]\n    Condition",
     "Outputs.ProxyResourceId.Value: unknown intrinsic function Fn::Pick"),
    ("DependsOn a missing resource",
     "DependsOn: FunctionLogs", "DependsOn: FunctionLog",
     'Resources.Function.DependsOn: "FunctionLog" is no resource'),
    ("a cycle of two resources",
     "  ProxySg:\n    Type: AWS::EC2::SecurityGroup\n",
     "  ProxySg:\n    Type: AWS::EC2::SecurityGroup\n    DependsOn: ProxyFromLambda\n",
     "Resources: dependency cycle among ProxyFromLambda, ProxySg: ProxyFromLambda -> ProxySg "
     "-> ProxyFromLambda"),
    ("a key given twice",
     "      IdleClientTimeout: 1800\n", "      IdleClientTimeout: 1800\n      RequireTLS: false\n",
     'line 89: key "RequireTLS" appears twice in one mapping'),
    ("a null value",
     "      MemorySize: 256", "      MemorySize:",
     "Resources.Function.Properties.MemorySize: null value (CloudFormation refuses null values)"),
]


def fail(msg: str) -> None:
    print(f"FAIL: {msg}")
    sys.exit(1)


def preflight() -> cfn.SpecDb:
    if cfn.yaml is None:
        fail("PyYAML is missing for this python3 (Debian package python3-yaml): run "
             "scripts/install-packages")
    db_path = cfn.default_db_path()
    if not db_path.is_file():
        fail(f"{db_path} is missing: run scripts/install-packages (it installs "
             f"{cfn.PACKAGE}@{cfn.PACKAGE_VERSION})")
    try:
        return cfn.SpecDb(db_path)
    except cfn.DbError as e:
        fail(str(e))
    raise AssertionError


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECKER), *args], capture_output=True, text=True,
                          timeout=120)


def main() -> int:
    db = preflight()
    valid = VALID.read_text(encoding="utf-8")
    failures = 0

    def check(ok: bool, what: str, detail: str = "") -> None:
        nonlocal failures
        print(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            failures += 1
            if detail:
                print("      " + detail.replace("\n", "\n      "))

    # The command line: the valid template passes, a broken one fails, misuse exits 2.
    with tempfile.TemporaryDirectory() as tmp:
        good = Path(tmp) / "ok" / T
        good.parent.mkdir()
        good.write_text(valid, encoding="utf-8")
        r = run_cli(str(good))
        check(r.returncode == 0 and r.stdout.startswith(f"{T}: 10 resources of 8 types, ")
              and r.stdout.rstrip().endswith("properties checked: no finding"),
              f"cli: the valid template passes: {r.stdout.strip()}",
              f"exit {r.returncode}\n{r.stdout}{r.stderr}")
        if r.returncode == 2:
            fail(f"the checker cannot run: {r.stderr.strip()}")
        bad = Path(tmp) / "bad" / T
        bad.parent.mkdir()
        bad.write_text(valid.replace("EngineFamily: POSTGRESQL", "EngineFamily: POSTGRES"),
                       encoding="utf-8")
        r = run_cli(str(bad))
        want = (f'{T}: Resources.Proxy.Properties.EngineFamily: "POSTGRES" is not one of MYSQL, '
                f"POSTGRESQL, SQLSERVER")
        check(r.returncode == 1 and r.stdout.splitlines() == [want],
              "cli: a broken template exits 1 with its finding",
              f"exit {r.returncode}\n{r.stdout}{r.stderr}")
        r = run_cli()
        check(r.returncode == 2, "cli: no template is a usage error (exit 2)", r.stderr)
        r = run_cli(str(good), "--db", str(Path(tmp) / "no-such-db.json.gz"))
        check(r.returncode == 2 and "no such file" in r.stderr and "install-packages" in r.stderr,
              "cli: a missing db exits 2 and says how to get it", r.stderr)
        r = run_cli(str(Path(tmp) / "missing.yaml"))
        check(r.returncode == 2, "cli: a missing template exits 2", r.stderr)

    # In process (the db loaded once): the valid template, then each broken copy.
    report = cfn.check_text(valid, db, T)
    check(report.ok and report.resources == 10, "the valid template has no finding",
          "\n".join(report.lines()))
    for what, old, new, expected in CASES:
        count = valid.count(old)
        if count != 1:
            check(False, what, f"the fixture holds {old!r} {count} times, not once")
            continue
        report = cfn.check_text(valid.replace(old, new), db, T)
        got = report.lines()
        want = f"{T}: {expected}"
        check(got == [want], f"{what}: {want}",
              "want exactly:\n  " + want + "\ngot:\n  " + "\n  ".join(got or ["(no finding)"]))

    total = len(CASES) + 6
    if failures:
        print(f"{failures} of {total} checks failed")
        return 1
    print(f"all {total} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
