#!/usr/bin/env python3
"""cli/deploy.sh, run end to end against a stand-in `aws` (no AWS here): for the default spec and
tests/deploy/specs/other.yaml, the rendered script must run to its end, make each call the
document's steps need with the corrected flags, and hand AWS only well-formed documents (every
JSON argument parses, no ${...} left in a policy, the prx- id it looked up in the function
role's policy). The stand-in answers as AWS would for a new account and records every call.
Usage: cli_script_run_test.py WRITEGATE_BINARY
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROXY_ARN_SUFFIX = "prx-0123456789abcdef0"

# The stand-in: a Python program named `aws`, its state in $STUB_DIR.
STUB = r'''#!/usr/bin/env python3
import json, os, sys
from pathlib import Path
state = Path(os.environ["STUB_DIR"])
args = sys.argv[1:]
with open(state / "calls.jsonl", "a") as log:
    log.write(json.dumps(args) + "\n")
def opt(name, default=None):
    return args[args.index(name) + 1] if name in args else default
def has(name):
    return (state / name).exists()
def mark(name):
    (state / name).write_text("1")
def fail(message):
    print(message, file=sys.stderr); sys.exit(254)
def read_file_arg(value):
    assert value.startswith("file://"), value
    return Path(value[len("file://"):]).read_text()
region = opt("--region")
if region is None:
    fail("no --region")
account = os.environ["STUB_ACCOUNT"]
svc, op = (args[2], args[3]) if args[0] == "--region" else (args[0], args[1])
query = opt("--query")
if (svc, op) == ("sts", "get-caller-identity"):
    print(account)
elif (svc, op) == ("ec2", "describe-security-groups"):
    name = [a for a in args if a.startswith("Name=group-name,Values=")][0].split("=", 2)[2]
    print("sg-" + name if has("sg-" + name) else "None")
elif (svc, op) == ("ec2", "create-security-group"):
    name = opt("--group-name"); mark("sg-" + name); print("sg-" + name)
elif (svc, op) == ("ec2", "describe-security-group-rules"):
    print("sgr-egress4\tsgr-egress6")
elif svc == "ec2" and op.startswith(("authorize-security-group", "revoke-security-group")):
    perms = opt("--ip-permissions")
    if perms is not None and not perms.startswith("IpProtocol=tcp,FromPort="):
        fail("bad --ip-permissions " + perms)
elif (svc, op) == ("rds", "describe-db-clusters"):
    if not has("cluster") and os.environ.get("STUB_EXISTING_CLUSTER") != "1":
        fail("DBClusterNotFoundFault")
    answers = {"DBClusters[0].Status": "available",
               "DBClusters[0].DbClusterResourceId": "cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
               "DBClusters[0].Endpoint": "c.cluster-abc.%s.rds.amazonaws.com" % region,
               "DBClusters[0].VpcSecurityGroups[].VpcSecurityGroupId": "sg-old1\tsg-old2",
               "DBClusters[0].MasterUserSecret.SecretArn": "arn:aws:secretsmanager:x"}
    print(answers.get(query, "{}"))
elif (svc, op) == ("rds", "create-db-cluster"):
    for flag in ("--enable-iam-database-authentication", "--storage-encrypted",
                 "--manage-master-user-password", "--deletion-protection"):
        if flag not in args: fail("create-db-cluster without " + flag)
    mark("cluster")
elif (svc, op) == ("rds", "modify-db-cluster"):
    if "--enable-iam-database-authentication" not in args: fail("IAM auth not enabled")
elif (svc, op) == ("secretsmanager", "describe-secret"):
    if not has("secret"): fail("ResourceNotFoundException")
    print("arn:aws:secretsmanager:%s:%s:secret:%s-AbCdEf" % (region, account, opt("--secret-id")))
elif (svc, op) == ("secretsmanager", "get-random-password"):
    print("RandomPassword0123456789")
elif (svc, op) == ("secretsmanager", "create-secret"):
    secret = json.loads(read_file_arg(opt("--secret-string")))
    if set(secret) != {"username", "password"}: fail("bad secret " + str(secret))
    mark("secret")
elif (svc, op) == ("iam", "get-role"):
    name = opt("--role-name")
    if not has("role-" + name): fail("NoSuchEntity")
    if query == "Role.Arn": print("arn:aws:iam::%s:role/%s" % (account, name))
elif (svc, op) == ("iam", "create-role"):
    doc = json.loads(read_file_arg(opt("--assume-role-policy-document")))
    assert doc["Statement"][0]["Action"] == "sts:AssumeRole"
    mark("role-" + opt("--role-name"))
elif (svc, op) == ("iam", "put-role-policy"):
    text = read_file_arg(opt("--policy-document"))
    if "${" in text: fail("a variable left in " + opt("--policy-name") + ": " + text)
    json.loads(text)
    (state / ("policy-" + opt("--policy-name"))).write_text(text)
elif (svc, op) == ("rds", "describe-db-proxies"):
    if not has("proxy"): fail("DBProxyNotFoundFault")
    answers = {"DBProxies[0].Status": "available",
               "DBProxies[0].DBProxyArn": "arn:aws:rds:%s:%s:db-proxy:%s" % (region, account, "PRX"),
               "DBProxies[0].Endpoint": "p.proxy-abc.%s.rds.amazonaws.com" % region}
    print(answers.get(query, "{}").replace("PRX", os.environ["STUB_PRX"]))
elif (svc, op) == ("rds", "create-db-proxy"):
    if "--require-tls" not in args: fail("proxy without --require-tls")
    auth = opt("--auth")
    if auth is not None:
        entries = json.loads(auth)
        if entries[0]["IAMAuth"] != "REQUIRED": fail("IAMAuth " + entries[0]["IAMAuth"])
    elif opt("--default-auth-scheme") != "IAM_AUTH":
        fail("neither --auth nor --default-auth-scheme IAM_AUTH")
    mark("proxy")
elif (svc, op) == ("rds", "modify-db-proxy-target-group"):
    json.loads(opt("--connection-pool-config"))
elif (svc, op) == ("rds", "describe-db-proxy-targets"):
    print("1" if has("targets") else "0")
elif (svc, op) == ("rds", "register-db-proxy-targets"):
    mark("targets")
elif (svc, op) == ("logs", "describe-log-groups"):
    name = opt("--log-group-name-prefix")
    print(name if has("log-" + name.replace("/", "_")) else "")
elif (svc, op) == ("logs", "create-log-group"):
    name = opt("--log-group-name")
    if has("log-" + name.replace("/", "_")): fail("ResourceAlreadyExistsException")
    mark("log-" + name.replace("/", "_"))
elif (svc, op) == ("lambda", "get-function"):
    if not has("function"): fail("ResourceNotFoundException")
elif (svc, op) == ("lambda", "create-function"):
    env = json.loads(read_file_arg(opt("--environment")))["Variables"]
    if env.get("PGSSLMODE") != "verify-full": fail("PGSSLMODE " + str(env.get("PGSSLMODE")))
    (state / "function-env").write_text(json.dumps(env))
    mark("function")
'''

EXPECTED_CALLS = [
    ["sts", "get-caller-identity"], ["ec2", "create-security-group"],
    ["ec2", "revoke-security-group-egress"], ["ec2", "authorize-security-group-ingress"],
    ["ec2", "authorize-security-group-egress"], ["iam", "create-role"],
    ["iam", "put-role-policy"], ["rds", "create-db-proxy"],
    ["rds", "modify-db-proxy-target-group"], ["rds", "register-db-proxy-targets"],
    ["lambda", "create-function"], ["logs", "put-retention-policy"],
]


def run_one(writegate: str, name: str, spec: str, account: str, existing: bool) -> list[str]:
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        out = tmp_path / "aws-render"
        rendered = subprocess.run([writegate, "--spec", spec, "render", "all", "--out", str(out)],
                                  capture_output=True, text=True)
        if rendered.returncode != 0:
            return [f"render failed: {rendered.stderr}"]
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        stub = bin_dir / "aws"
        stub.write_text(STUB)
        stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
        state = tmp_path / "state"
        state.mkdir()
        zip_file = tmp_path / "function.zip"
        zip_file.write_bytes(b"PK\x05\x06" + b"\x00" * 18)
        env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", STUB_DIR=str(state),
                   STUB_ACCOUNT=account, STUB_PRX=PROXY_ARN_SUFFIX,
                   STUB_EXISTING_CLUSTER="1" if existing else "0", VPC_ID="vpc-0abc",
                   SUBNET_IDS="subnet-0aaa,subnet-0bbb", CODE_ZIP=str(zip_file))
        # wait_for sleeps only while not available: the stand-in is always available.
        run = subprocess.run(["bash", str(out / "cli" / "deploy.sh")], capture_output=True,
                             text=True, env=env, timeout=120)
        calls = [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]
        ops = [c[2:4] if c[0] == "--region" else c[0:2] for c in calls]
        if run.returncode != 0:
            problems.append(f"deploy.sh exited {run.returncode}:\n{run.stdout}\n{run.stderr}")
        for expected in EXPECTED_CALLS:
            if expected not in ops:
                problems.append(f"no `aws {' '.join(expected)}` call")
        if not existing and ["rds", "create-db-cluster"] not in ops:
            problems.append("the cluster was not created")
        if existing and ["rds", "create-db-cluster"] in ops:
            problems.append("an existing cluster was created again")
        connect = state / "policy-lambda-rds-connect-policy"
        if not connect.exists():
            problems.append("no lambda-rds-connect-policy was put")
        elif f"dbuser:{PROXY_ARN_SUFFIX}/" not in connect.read_text():
            problems.append("the function role's policy does not name the proxy's prx- id: " +
                            connect.read_text())
        if "deployed:" not in run.stdout:
            problems.append("deploy.sh did not reach its end")
        # A second run changes nothing: nothing is created again.
        (state / "calls.jsonl").unlink()
        again = subprocess.run(["bash", str(out / "cli" / "deploy.sh")], capture_output=True,
                               text=True, env=env, timeout=120)
        if again.returncode != 0:
            problems.append(f"the second run exited {again.returncode}: {again.stderr}")
        else:
            calls = [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]
            created = [c for c in calls if any(a.startswith("create-") for a in c[2:4])]
            if created:
                problems.append(f"the second run created again: {created}")
        # The account check stops it before anything changes.
        wrong = subprocess.run(["bash", str(out / "cli" / "deploy.sh")], capture_output=True,
                               text=True, env=dict(env, STUB_ACCOUNT="999999999999"), timeout=60)
        if wrong.returncode == 0 or "the credentials are for account 999999999999" not in wrong.stderr:
            problems.append(f"another account was not refused: {wrong.returncode} {wrong.stderr}")
    return [f"{name}: {p}" for p in problems]


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: cli_script_run_test.py WRITEGATE_BINARY", file=sys.stderr)
        return 2
    writegate = sys.argv[1]
    cases = [("default", "/dev/null", "000000000000", False),
             ("other", str(HERE / "specs" / "other.yaml"), "123456789012", True),
             ("secrets-create", str(HERE / "specs" / "secrets-create.yaml"), "000000000000", False),
             ("iam-existing", str(HERE / "specs" / "iam-existing.yaml"), "000000000000", True)]
    failed = 0
    for name, spec, account, existing in cases:
        problems = run_one(writegate, name, spec, account, existing)
        for p in problems:
            print("FAIL", p)
        if problems:
            failed += 1
        else:
            print(f"ok   {name}: deploy.sh ran to its end, twice, and refused another account")
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
